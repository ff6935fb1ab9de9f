# Two images from one file:
#   --target runtime-cpu   bot, migrations, CPU workers (Node 20 on Debian bookworm)
#   --target runtime-cuda  GPU workers (CUDA 12 + cuDNN 9 runtime, Node 20, ONNX Runtime's CUDA provider)
# Both hold the compiled build (dist/, `npm run build`) and the production dependencies only,
# and run as the unprivileged user `node` (uid 1000); models are mounted, not copied.
#
# The CPU stages come first: the classic builder builds every stage before its target, so
# `--target runtime-cpu` never touches the CUDA base image (BuildKit builds only what the
# target needs). The base images are build arguments, e.g. a mirror's:
#   docker build --build-arg NODE_IMAGE=registry.example/node:20-bookworm-slim --target runtime-cpu .

ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

# Every dependency, the build tools included. npm's postinstall patches postgres.js
# (scripts/patch-postgres.mjs); .npmrc skips onnxruntime-node's download of the CUDA provider.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY scripts/patch-postgres.mjs ./scripts/
RUN npm ci --no-audit --no-fund && npm cache clean --force

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# The same tree less the dev dependencies (postgres.js stays patched), and less the ONNX
# Runtime binaries of other platforms (onnxruntime-node ships all of them: about 250 MB).
FROM deps AS deps-cpu
RUN npm prune --omit=dev --no-audit --no-fund \
 && find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 \
      ! -path "*/$(node -p 'process.platform + "/" + process.arch')" -exec rm -rf {} +

FROM ${NODE_IMAGE} AS runtime-cpu
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps-cpu /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY migrations ./migrations
COPY --from=build /app/dist ./dist
USER node
CMD ["node", "dist/bot/main.js"]

# ---- GPU workers: everything below is built only for --target runtime-cuda. ----

# The production tree with the CUDA 12 execution provider: onnxruntime-node's install script,
# run again, fetches its libraries from NuGet (ONNXRUNTIME_NODE_INSTALL wins over .npmrc), so
# this stage needs internet access.
FROM deps-cpu AS deps-cuda
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
RUN npm rebuild onnxruntime-node \
 && ls node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

FROM ${CUDA_IMAGE} AS runtime-cuda
# Node 20 and npm from the Node image (its binaries need glibc 2.28; Ubuntu 22.04 has 2.35).
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
COPY --from=deps /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && useradd --create-home --uid 1000 node
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps-cuda /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY migrations ./migrations
COPY --from=build /app/dist ./dist
USER node
CMD ["node", "dist/worker/main.js"]
