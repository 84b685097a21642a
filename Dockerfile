# One image for the four services: `hoinhap run <service>` picks which.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 hoinhap
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY hoinhap ./hoinhap
RUN pip install --no-cache-dir . && rm -rf /root/.cache

USER hoinhap
ENV PYTHONUNBUFFERED=1
EXPOSE 8001 8002 8003 8004
ENTRYPOINT ["hoinhap", "run"]
CMD ["intake"]
