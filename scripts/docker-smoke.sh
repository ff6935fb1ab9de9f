#!/usr/bin/env bash
# npm run test:docker: the Docker smoke test (not part of npm test). It builds the CPU image,
# then runs the compose file's migrate, bot and worker-cpu services (their commands,
# environment and read-only models volume, as docker-compose.yml defines them, with docker
# compose or docker-compose) against this machine's PostgreSQL and Redis and the local Discord
# API server (test/discord/standalone.ts), on the host network:
#   1. migrate applies the migrations; commands:deploy registers the commands;
#   2. the bot connects and answers /imagine; two worker containers start;
#   3. the worker running the job gets `docker stop` mid-job: the job is handed back within
#      the stop grace and the other worker container delivers the grid;
#   4. the healthcheck command of the remaining worker container passes, as root is not its user.
# When node:20-bookworm-slim can be neither found nor pulled, it makes a local stand-in first:
# a Debian bookworm root filesystem (debootstrap, from this machine's Debian mirror) with this
# machine's Node 20 and npm, a `node` user (uid 1000) and this machine's CA bundle.
# The stand-in is tagged imagine-smoke/node:20-bookworm-slim (never the official name) and kept
# for the next run. Needs root (debootstrap), a running Docker engine, PostgreSQL on
# 127.0.0.1:5432 (trust auth) and Redis on 127.0.0.1:6379. Options (environment): NODE_IMAGE
# (the base image to try first, default node:20-bookworm-slim), SMOKE_PORT
# (the local Discord server's port, default 18765), KEEP_IMAGES=0 to remove the images at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
started=$(date +%s)
log() { printf '[smoke %3ds] %s\n' "$(($(date +%s) - started))" "$*"; }
# Whether a container's log has a line containing all the given strings. grep reads all of
# the log (no -q): with pipefail, a grep that quits early fails the pipe through SIGPIPE.
logged() {
  local name="$1" lines
  shift
  lines="$(docker logs "$name" 2>&1)"
  for text in "$@"; do lines="$(grep -F -- "$text" <<<"$lines")" || return 1; done
}
fail() { log "FAILED: $*"; exit 1; }

NODE_IMAGE="${NODE_IMAGE:-node:20-bookworm-slim}"
STAND_IN_IMAGE="imagine-smoke/node:20-bookworm-slim"
PORT="${SMOKE_PORT:-18765}"
TAG="smoke-$$"
PROJECT="imaginesmoke$$"
DB="imagine_smoke_$$"
PREFIX="smoke$$"
TOKEN="c21va2UtYm90.GfAkE1.$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
APP_ID="1234567890123456$(printf '%03d' $(($$ % 1000)))"
WORK="$(mktemp -d /tmp/imagine-smoke.XXXXXX)"

if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); elif command -v docker-compose >/dev/null; then COMPOSE=(docker-compose); else fail "needs docker compose or docker-compose"; fi
docker info >/dev/null 2>&1 || fail "no Docker engine answers (start dockerd)"
pg_isready -h 127.0.0.1 -p 5432 -q || fail "no PostgreSQL on 127.0.0.1:5432"
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || fail "no Redis on 127.0.0.1:6379"

runner_pid=""
cleanup() {
  set +e
  [ -n "$runner_pid" ] && kill "$runner_pid" 2>/dev/null
  docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker rm -f >/dev/null
  docker network ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker network rm >/dev/null
  dropdb -h 127.0.0.1 -U postgres --if-exists "$DB"
  redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$PREFIX:*" | xargs -r redis-cli -h 127.0.0.1 -p 6379 del >/dev/null
  [ "${KEEP_IMAGES:-1}" = 0 ] && docker rmi -f "imagine-bot:$TAG" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the base image
# A Debian bookworm root filesystem with this machine's Node 20 and npm where they live in the
# official image (/usr/local), the `node` user and the CA bundle npm needs behind a TLS proxy.
make_node_image() {
  local rootfs="$WORK/rootfs" mirror
  mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1)"
  [ -n "$mirror" ] || mirror="$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)"
  [ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt/sources.list*"
  command -v debootstrap >/dev/null || fail "needs debootstrap (apt-get install debootstrap) to make a stand-in for $NODE_IMAGE"
  log "making a stand-in for $NODE_IMAGE: debootstrap bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 || { tail -n 20 "$WORK/debootstrap.log"; fail "debootstrap failed"; }
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  install -D -m 0755 "$(readlink -f "$(command -v node)")" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$(npm root -g)/npm" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  chroot "$rootfs" useradd --create-home --uid 1000 --user-group --shell /bin/bash node
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["node"]' - "$STAND_IN_IMAGE" >/dev/null
  rm -rf "$rootfs"
  log "stand-in $STAND_IN_IMAGE imported ($(docker run --rm --network none "$STAND_IN_IMAGE" node --version))"
}
if ! docker image inspect "$NODE_IMAGE" >/dev/null 2>&1 && ! docker pull -q "$NODE_IMAGE" >/dev/null 2>&1; then
  log "$NODE_IMAGE is neither here nor pullable: using $STAND_IN_IMAGE"
  docker image inspect "$STAND_IN_IMAGE" >/dev/null 2>&1 || make_node_image
  NODE_IMAGE="$STAND_IN_IMAGE"
fi

# ---------------------------------------------------------------- the image
log "building imagine-bot:$TAG (--target runtime-cpu, classic builder)"
build_started=$(date +%s)
DOCKER_BUILDKIT=0 docker build --network host --build-arg NODE_IMAGE="$NODE_IMAGE" --target runtime-cpu -t "imagine-bot:$TAG" . >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log"; fail "docker build failed"; }
log "built in $(($(date +%s) - build_started)) s, $(docker image inspect -f '{{.Size}}' "imagine-bot:$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
[ "$(docker run --rm --network none "imagine-bot:$TAG" id -u)" = 1000 ] || fail "the image does not run as uid 1000"
docker run --rm --network none "imagine-bot:$TAG" sh -c 'test -f dist/pipeline/host-thread.js && test ! -e src && test ! -e node_modules/typescript && test ! -e node_modules/tsx' \
  || fail "the image should hold dist/ and production dependencies only"
docker run --rm --network none "imagine-bot:$TAG" grep -q 'imagine-bot: closed-connection patch' node_modules/postgres/src/connection.js \
  || fail "postgres.js in the image is not patched (scripts/patch-postgres.mjs did not run)"

# ---------------------------------------------------------------- the compose project
# docker-compose.yml as it is, in a project folder of its own: its .env holds this run's
# settings (what an operator's .env holds), models/ is the repository's. The override puts the
# services on the host network, where this machine's PostgreSQL and Redis are.
project="$WORK/project"
mkdir -p "$project"
cp docker-compose.yml "$project/docker-compose.yml"
ln -s "$ROOT/models" "$project/models"
cat >"$project/.env" <<EOF
IMAGE_TAG=$TAG
DISCORD_TOKEN=$TOKEN
DISCORD_APPLICATION_ID=$APP_ID
DISCORD_API_BASE=http://127.0.0.1:$PORT/api
REDIS_PREFIX=$PREFIX
SHUTDOWN_GRACE_MS=1000
PREVIEW_INTERVAL_MS=500
LOG_LEVEL=info
EOF
cat >"$project/docker-compose.override.yml" <<EOF
x-host: &host
  network_mode: host
  environment:
    DATABASE_URL: postgres://postgres@127.0.0.1:5432/$DB
    REDIS_URL: redis://127.0.0.1:6379
services:
  migrate: *host
  bot: *host
  worker-cpu: *host
EOF
compose() { "${COMPOSE[@]}" --project-name "$PROJECT" --project-directory "$project" -f "$project/docker-compose.yml" -f "$project/docker-compose.override.yml" --profile cpu "$@"; }
compose config >"$WORK/config.yml" || fail "compose config failed"
worker_config="$(awk '/^  [a-z-]+:$/ { w = ($1 == "worker-cpu:") } w' "$WORK/config.yml")"
grep -q -- "- $project/models:/app/models:ro\$" <<<"$worker_config" || fail "worker-cpu does not mount ./models read-only at /app/models"
grace_s="$(sed -n 's/^ *stop_grace_period: *\([0-9]*\)s$/\1/p' <<<"$worker_config")"
[ -n "$grace_s" ] || fail "no stop_grace_period in seconds for worker-cpu in docker-compose.yml"

createdb -h 127.0.0.1 -U postgres "$DB"
log "migrate: $(compose run --rm --no-deps migrate 2>&1 | tail -n 1)"

# ---------------------------------------------------------------- Discord, workers, bot
# The runner sends /imagine once the bot connects, so the workers start first.
node --import tsx test/discord/standalone.ts --port "$PORT" --token "$TOKEN" --application-id "$APP_ID" --steps 150 --count 4 --timeout-s 300 >"$WORK/discord.log" 2>&1 &
runner_pid=$!
for _ in $(seq 1 100); do grep -q '^listening' "$WORK/discord.log" && break; sleep 0.2; done
grep -q '^listening' "$WORK/discord.log" || { cat "$WORK/discord.log"; fail "the local Discord server did not start"; }
log "discord: $(grep '^listening' "$WORK/discord.log")"
log "commands:deploy: $(compose run --rm --no-deps bot node dist/cli/deploy-commands.js 2>&1 | tail -n 1)"

# Two workers on one host network: each needs its own health port.
compose run -d --no-deps -e HEALTH_PORT=19464 --name "$PROJECT-worker-a" worker-cpu >/dev/null 2>>"$WORK/compose.log"
compose run -d --no-deps -e HEALTH_PORT=19465 --name "$PROJECT-worker-b" worker-cpu >/dev/null 2>>"$WORK/compose.log"
for w in a b; do
  for _ in $(seq 1 300); do logged "$PROJECT-worker-$w" '"worker consuming"' && break; sleep 0.5; done
  logged "$PROJECT-worker-$w" '"worker consuming"' || { docker logs "$PROJECT-worker-$w" 2>&1 | tail -n 20; fail "worker $w did not start"; }
done
log "workers a and b consuming"
compose up -d --no-deps bot 2>>"$WORK/compose.log"

# ---------------------------------------------------------------- docker stop mid-job
for _ in $(seq 1 600); do grep -q '^progress' "$WORK/discord.log" && break; kill -0 "$runner_pid" 2>/dev/null || break; sleep 0.2; done
grep -q '^progress' "$WORK/discord.log" || { cat "$WORK/discord.log"; fail "no progress edit arrived"; }
runs=""
for w in a b; do logged "$PROJECT-worker-$w" '"job started"' && runs="$w"; done
[ -n "$runs" ] || fail "no worker logged the job start"
other=$([ "$runs" = a ] && echo b || echo a)
log "worker $runs runs the job ($(grep '^progress' "$WORK/discord.log" | tail -n 1)): docker stop --time $grace_s"
stop_started=$(date +%s)
docker stop --time "$grace_s" "$PROJECT-worker-$runs" >/dev/null
stop_code="$(docker inspect -f '{{.State.ExitCode}}' "$PROJECT-worker-$runs")"
log "worker $runs stopped in $(($(date +%s) - stop_started)) s with exit code $stop_code: $(docker logs "$PROJECT-worker-$runs" 2>&1 | grep -o '"msg":"[^"]*handed back[^"]*"' | head -n 1)"
[ "$stop_code" = 0 ] || { docker logs "$PROJECT-worker-$runs" 2>&1 | tail -n 20; fail "worker $runs did not exit cleanly within the stop grace"; }

wait "$runner_pid" || { cat "$WORK/discord.log"; docker logs "$PROJECT-worker-$other" 2>&1 | tail -n 20; fail "the final grid did not arrive"; }
runner_pid=""
sed 's/^/    discord: /' "$WORK/discord.log" | grep -v 'progress' ; log "progress edits: $(grep -c '^progress' "$WORK/discord.log")"
job="$(sed -n 's/^job: //p' "$WORK/discord.log")"
row="$(psql -h 127.0.0.1 -U postgres -d "$DB" -Atc "select status || ' ' || attempts || ' ' || worker_id || ' ' || (delivered_at is not null) from jobs where id = '$job'")"
log "job $job: $row"
case "$row" in "succeeded "*" true") ;; *) fail "job $job is not succeeded and delivered: $row" ;; esac
logged "$PROJECT-worker-$other" "\"jobId\":\"$job\"" '"msg":"delivered"' || fail "worker $other did not deliver job $job"
log "worker $other finished the job that worker $runs handed back"

# ---------------------------------------------------------------- healthcheck, user
health_cmd="$(docker inspect -f '{{json .Config.Healthcheck.Test}}' "$PROJECT-worker-$other")"
[ "$health_cmd" != null ] || fail "the worker container has no healthcheck"
docker exec "$PROJECT-worker-$other" node -e "const [kind, ...args] = $health_cmd; require('child_process').execFileSync(args[0], args.slice(1), { stdio: 'inherit' })" \
  || fail "the worker's healthcheck command failed"
log "healthcheck command of worker $other: ok"
for _ in $(seq 1 120); do [ "$(docker inspect -f '{{.State.Health.Status}}' "$PROJECT-worker-$other")" = healthy ] && break; sleep 1; done
[ "$(docker inspect -f '{{.State.Health.Status}}' "$PROJECT-worker-$other")" = healthy ] || fail "Docker does not report worker $other healthy"
log "Docker reports worker $other healthy"
[ "$(docker exec "$PROJECT-worker-$other" id -u)" = 1000 ] || fail "the worker does not run as uid 1000"
log "PASSED in $(($(date +%s) - started)) s (image imagine-bot:$TAG, $(docker image inspect -f '{{.Size}}' "imagine-bot:$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
