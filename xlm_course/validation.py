"""Checks of arguments and configuration fields, shared by every module: a bad value gets a ValueError that
names the argument, says what is accepted and shows what was given; nothing is silently coerced."""

from __future__ import annotations


def check_positive_int(name: str, value: object, optional: bool = False, minimum: int = 1,
                       maximum: int | None = None) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is an int in [minimum, maximum] (``optional``: or
    None). ``True`` is not a step count, though Python counts it as the int 1."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None
                                                                                     and value > maximum):
        wanted = ("a positive int" if minimum == 1 and maximum is None else
                  "a non-negative int" if minimum == 0 and maximum is None else
                  f"an int ≥ {minimum}" if maximum is None else f"an int in [{minimum}, {maximum}]")
        raise ValueError(f"{name} must be {wanted}{' or None' if optional else ''}, got {value!r}")


def check_positive_ints(config: object, *names: str, optional: tuple[str, ...] = ()) -> None:
    """:func:`check_positive_int` for each of the fields ``names`` of ``config``."""
    for name in names:
        check_positive_int(name, getattr(config, name), name in optional)


def check_positive_number(name: str, value: object) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is a positive, finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_non_negative_number(name: str, value: object) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is a finite number ≥ 0 (a weight decay, a margin)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


def check_positive_numbers(config: object, *names: str) -> None:
    """:func:`check_positive_number` for each of the fields ``names`` of ``config``."""
    for name in names:
        check_positive_number(name, getattr(config, name))


def check_fraction(name: str, value: object, low: float = 0.0, high: float = 1.0, closed: bool = True) -> None:
    """Raise a ValueError unless ``value`` is a number in [low, high] (``closed=False``: [low, high))."""
    inside = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and (low <= value <= high if closed else low <= value < high))
    if not inside:
        raise ValueError(f"{name} must lie in [{low}, {high}{']' if closed else ')'}, got {value!r}")
