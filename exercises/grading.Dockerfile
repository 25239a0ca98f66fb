# A container for grading a class with `xlm-course grade` (book/instructors.md), for instructors who want more
# isolation than the grader's own sandbox gives (there, a notebook can still read what the grader can read).
#
#   docker build -f exercises/grading.Dockerfile -t xlm-course-grader .
#   docker run --rm --network none --memory 16g --cpus 2 \
#       -v "$PWD/submissions:/submissions:ro" -v "$PWD/grades:/grades" \
#       xlm-course-grader /submissions --output /grades --unsafe-no-sandbox
#
# The container is the sandbox: no network (--network none), the submissions mounted read-only, only the
# grades folder writable, and nothing of the host's (no home, no tokens). Docker's default seccomp profile
# forbids the user namespaces of the grader's own sandbox, hence --unsafe-no-sandbox inside it; every
# submission is still read before any runs, so one cannot change another's grade. The encoders the exercise
# notebooks load are pretrained while the image is built, so grading starts from a warm cache.
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends git util-linux && rm -rf /var/lib/apt/lists/*
WORKDIR /course
COPY pyproject.toml constraints.txt README.md ./
COPY xlm_course ./xlm_course
COPY exercises ./exercises
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir -c constraints.txt -e ".[grade]"
ENV HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 XLM_COURSE_CACHE=/cache
RUN xlm-course pretrain && xlm-course pretrain --pair-sources ui emoji
ENTRYPOINT ["xlm-course", "grade", "--reference", "/course/exercises/student"]
