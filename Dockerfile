# syntax=docker/dockerfile:1
# Two images from one file:
#   --target runtime-cpu   bot, migrations, CPU workers (node:20 on Debian bookworm)
#   --target runtime-cuda  GPU workers (CUDA 12 + cuDNN 9 runtime, Node 20, ONNX Runtime's CUDA provider)
# The TypeScript sources run through tsx, as in development; models are mounted, not copied.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

# Node 20 plus tsx, installed globally so the production node_modules stay without dev tools.
FROM ${NODE_IMAGE} AS node
COPY package-lock.json /tmp/package-lock.json
RUN npm install -g "tsx@$(node -p "require('/tmp/package-lock.json').packages['node_modules/tsx'].version")" \
 && npm cache clean --force && rm /tmp/package-lock.json

# Production dependencies. onnxruntime-node's CPU binaries ship in its npm package; .npmrc
# skips the download of the CUDA provider.
FROM node AS deps-cpu
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# npm's postinstall patches postgres.js (see the script).
COPY scripts/patch-postgres.mjs ./scripts/
RUN npm ci --omit=dev && npm cache clean --force

# Same, with the CUDA 12 execution provider libraries (onnxruntime-node's install script
# fetches them from NuGet; ONNXRUNTIME_NODE_INSTALL wins over .npmrc).
FROM node AS deps-cuda
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY scripts/patch-postgres.mjs ./scripts/
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
RUN npm ci --omit=dev && npm cache clean --force \
 && ls node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

FROM node AS runtime-cpu
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps-cpu /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
USER node
CMD ["tsx", "src/bot/main.ts"]

FROM ${CUDA_IMAGE} AS runtime-cuda
# Node 20, npm and tsx from the node stage (the official binaries need glibc 2.28; Ubuntu 22.04 has 2.35).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && ln -s ../lib/node_modules/tsx/dist/cli.mjs /usr/local/bin/tsx \
 && useradd --create-home --uid 1000 node
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps-cuda /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
USER node
CMD ["tsx", "src/worker/main.ts"]
