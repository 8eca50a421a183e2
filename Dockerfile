# syntax=docker/dockerfile:1
#
# Open Interactions server images.
#
#   docker build -t open-interactions .                       # CPU image (default target)
#   docker build -t open-interactions:cuda --target cuda .    # NVIDIA GPUs (run with --gpus all)
#
# Both run `open-interactions serve` as an unprivileged user on port 8080, with the configuration
# at /etc/open-interactions/config.yaml and data (SQLite, file bytes, models) under /data.

ARG NODE_VERSION=22
ARG CUDA_VERSION=12.8.1

# ---- build: compile the TypeScript sources to dist/ (dev dependencies stay in this stage)
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# ---- production dependencies; better-sqlite3 compiles when no prebuilt binary can be fetched
FROM node:${NODE_VERSION}-bookworm-slim AS deps-base
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY docker/install-runtime.sh ./docker/

FROM deps-base AS deps-cpu
RUN sh docker/install-runtime.sh cpu && npm cache clean --force

FROM deps-base AS deps-cuda
RUN sh docker/install-runtime.sh cuda && npm cache clean --force

# ---- CUDA image: the CUDA runtime libraries, Node copied from the official image
FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu24.04 AS cuda
COPY --from=node:22-bookworm-slim /usr/local/bin/node /usr/local/bin/node
RUN useradd --system --create-home --uid 10001 oi \
  && mkdir -p /data /etc/open-interactions && chown oi /data
WORKDIR /app
COPY --from=deps-cuda /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY docker/config.yaml /etc/open-interactions/config.yaml
ENV NODE_ENV=production \
    OI_MODELS_DIR=/data/models
USER oi
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/open-interactions.js"]
CMD ["serve", "--config", "/etc/open-interactions/config.yaml", "--host", "0.0.0.0", "--port", "8080"]

# ---- CPU image (the default, last target): slim Debian, llama.cpp's CPU build only
FROM node:${NODE_VERSION}-bookworm-slim AS cpu
RUN useradd --system --create-home --uid 10001 oi \
  && mkdir -p /data /etc/open-interactions && chown oi /data
WORKDIR /app
COPY --from=deps-cpu /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY docker/config.yaml /etc/open-interactions/config.yaml
ENV NODE_ENV=production \
    OI_MODELS_DIR=/data/models
USER oi
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/open-interactions.js"]
CMD ["serve", "--config", "/etc/open-interactions/config.yaml", "--host", "0.0.0.0", "--port", "8080"]
