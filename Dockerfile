# The one image of every greenmon service and job (collector, processor, db migrate,
# simulate, replay, export, ...):  docker run --rm greenmon:dev config
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --user-group --uid 10001 \
        --home-dir /var/lib/greenmon --create-home --shell /usr/sbin/nologin greenmon

WORKDIR /src

# The dependencies alone first (read from pyproject.toml), so that a change to the code
# does not reinstall them. The `local` extra (embedded broker) is not needed here.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-cache-dir . \
    && rm -rf /src

USER greenmon
WORKDIR /var/lib/greenmon

ENTRYPOINT ["greenmon"]
CMD ["--help"]
