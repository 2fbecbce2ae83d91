#!/usr/bin/env bash
# Image test: builds the repository's Dockerfile with podman (vfs storage, chroot isolation) on
# local stand-in base images, then runs the image the way a container runtime would (its USER,
# ENV, WORKDIR, ENTRYPOINT, VOLUME and HEALTHCHECK, in new mount and PID namespaces) and checks
# the counter, the healthcheck, the VOLUME's owner and the stop on SIGTERM.
#
# Stand-ins, built once and kept in podman storage (rootfs tarball cached in $CACHE_DIR):
#   localhost/runtime-standin:bookworm  Debian bookworm minbase (glibc, ca-certificates,
#                                       user nonroot 65532) for gcr.io/distroless/cc-debian12
#   localhost/bun-standin:<version>     the same rootfs plus Bun from the npm package
#                                       @oven/bun-linux-x64 at /usr/local/bin/bun, for oven/bun
# Needs root. Installs podman, debootstrap and uidmap with apt when missing.
# Env: KEEP_IMAGE=1 keeps localhost/session-counter:test; REBUILD_BASES=1 rebuilds the stand-ins.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

BUN_VERSION=1.4.5
SUITE=bookworm
CACHE_DIR=${SESSION_COUNTER_IMAGE_CACHE:-/var/cache/session-counter-image}
RUNTIME_TAG=localhost/runtime-standin:$SUITE
BUN_TAG=localhost/bun-standin:$BUN_VERSION
IMAGE=localhost/session-counter:test
SECRET=image-test-secret-0123456789abcdef0123456789abcdef
export CONTAINERS_CONF=$ROOT/tests/image/containers.conf

started=$SECONDS
passed=0
failed=0
say() { printf '[image %3ss] %s\n' $((SECONDS - started)) "$*"; }
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finished=0
finish() {
  finished=1
  say "done in $((SECONDS - started)) s"
  echo "$passed passed, $failed failed"
  if [[ $failed -eq 0 ]]; then exit 0; else exit 1; fi
}
podman() { command podman --storage-driver vfs "$@"; }

if [[ $EUID -ne 0 ]]; then
  echo "tests/image/run.sh needs root (chroot, namespaces, podman storage)" >&2
  exit 1
fi

WORK=$(mktemp -d /var/tmp/session-counter-image.XXXXXX)
PIDS=()
CONTAINER=
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n $CONTAINER ]] && podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
  if [[ ${KEEP_IMAGE:-0} != 1 ]]; then
    podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  fi
  # Everything mounted under $WORK lived in private mount namespaces that are gone by now.
  rm -rf --one-file-system "$WORK"
}
on_exit() {
  local rc=$?
  cleanup
  if [[ $finished == 0 ]]; then
    fail "the image test stopped early (exit code $rc, see above)"
    echo "$passed passed, $failed failed"
    exit 1
  fi
}
trap on_exit EXIT

# --- tools -----------------------------------------------------------------------------------
need=()
# `type -P`, not `command -v`: the podman() wrapper above would count as found.
type -P podman >/dev/null || need+=(podman)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v newuidmap >/dev/null || need+=(uidmap)
command -v curl >/dev/null || need+=(curl)
command -v npm >/dev/null || need+=(npm)
if [[ ${#need[@]} -gt 0 ]]; then
  say "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
say "$(command podman --version), $(unshare --version | head -1)"

# --- stand-in base images ----------------------------------------------------------------------
# The Debian mirror this machine's apt uses (deb822 .sources or one-line .list), never a fixed host.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v suite="$SUITE" '
      function flush() { if (deb && hit && uri != "" && !done) { print uri; done = 1 } deb = hit = 0; uri = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
      tolower($1) == "enabled:" && tolower($2) == "no" { deb = 0 }
      END { flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk -v suite="$SUITE" '
      $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) print $i }' "$f"
  done
}

image_exists() { podman image exists "$1"; }

rootfs_tar=$CACHE_DIR/$SUITE-minbase.tar
ensure_rootfs() {
  [[ -s $rootfs_tar && ${REBUILD_BASES:-0} != 1 ]] && return
  local mirror dir
  mirror=$(apt_mirror | grep -m1 -E '^https?://' || true)
  [[ -n $mirror ]] || { echo "no '$SUITE' deb mirror in this machine's apt sources" >&2; exit 1; }
  say "debootstrap --variant=minbase $SUITE from $mirror (cached afterwards in $rootfs_tar)"
  dir=$WORK/debootstrap
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$dir" "$mirror" >"$WORK/debootstrap.log" 2>&1 || {
    tail -30 "$WORK/debootstrap.log" >&2
    exit 1
  }
  # Like distroless: a nonroot user 65532 with a home; no apt lists, caches, docs.
  echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >>"$dir/etc/passwd"
  echo 'nonroot:x:65532:' >>"$dir/etc/group"
  install -d -o 65532 -g 65532 -m 0700 "$dir/home/nonroot"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/cache/debconf/*-old \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/locale/* "$dir"/var/log/*
  mkdir -p "$CACHE_DIR"
  tar -C "$dir" --numeric-owner --xattrs -cf "$rootfs_tar.partial" .
  mv "$rootfs_tar.partial" "$rootfs_tar"
  rm -rf --one-file-system "$dir"
}

# The Bun binary ships inside the optional-dependency package (its postinstall download is not needed).
ensure_bun_binary() {
  local variant=x64
  grep -qw avx2 /proc/cpuinfo || variant=x64-baseline
  bun_bin=$CACHE_DIR/bun-linux-$variant-$BUN_VERSION
  [[ -x $bun_bin ]] && return
  say "npm pack @oven/bun-linux-$variant@$BUN_VERSION"
  mkdir -p "$CACHE_DIR" "$WORK/npm"
  (cd "$WORK/npm" && npm pack --silent "@oven/bun-linux-$variant@$BUN_VERSION" >/dev/null)
  tar -xzf "$WORK"/npm/*.tgz -C "$WORK/npm" package/bin/bun
  [[ $("$WORK/npm/package/bin/bun" --version) == "$BUN_VERSION" ]]
  install -m 0755 "$WORK/npm/package/bin/bun" "$bun_bin.partial"
  mv "$bun_bin.partial" "$bun_bin"
}

# This machine's CA bundle: the registry may sit behind a TLS proxy whose CA only the host trusts.
host_ca=/etc/ssl/certs/ca-certificates.crt
ca_label() { [[ -f $host_ca ]] && sha256sum "$host_ca" | cut -c1-16 || echo none; }

if [[ ${REBUILD_BASES:-0} == 1 ]] || ! image_exists "$RUNTIME_TAG"; then
  ensure_rootfs
  say "podman import $RUNTIME_TAG"
  podman rmi -f "$RUNTIME_TAG" >/dev/null 2>&1 || true
  podman import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$rootfs_tar" "$RUNTIME_TAG" >/dev/null
fi

if [[ ${REBUILD_BASES:-0} == 1 ]] || ! image_exists "$BUN_TAG" ||
  [[ $(podman image inspect --format '{{index .Labels "host-ca"}}' "$BUN_TAG") != "$(ca_label)" ]]; then
  ensure_rootfs
  ensure_bun_binary
  say "podman import $BUN_TAG"
  dir=$WORK/bun-rootfs
  mkdir -p "$dir"
  tar -C "$dir" --numeric-owner -xf "$rootfs_tar"
  install -m 0755 "$bun_bin" "$dir/usr/local/bin/bun"
  ln -sf bun "$dir/usr/local/bin/bunx"
  [[ -f $host_ca ]] && install -m 0644 "$host_ca" "$dir/etc/ssl/certs/ca-certificates.crt"
  # Like oven/bun: a bun user 1000 and /home/bun/app.
  echo 'bun:x:1000:1000::/home/bun:/bin/sh' >>"$dir/etc/passwd"
  echo 'bun:x:1000:' >>"$dir/etc/group"
  install -d -o 1000 -g 1000 "$dir/home/bun" "$dir/home/bun/app"
  tar -C "$dir" --numeric-owner -cf "$WORK/bun-rootfs.tar" .
  rm -rf --one-file-system "$dir"
  podman rmi -f "$BUN_TAG" >/dev/null 2>&1 || true
  podman import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'WORKDIR /home/bun/app' --change 'CMD ["/usr/local/bin/bun"]' \
    --change "LABEL host-ca=$(ca_label)" \
    "$WORK/bun-rootfs.tar" "$BUN_TAG" >/dev/null
  rm -f "$WORK/bun-rootfs.tar"
fi
say "stand-ins: $RUNTIME_TAG $(podman image inspect --format '{{.Size}}' "$RUNTIME_TAG") B, $BUN_TAG $(podman image inspect --format '{{.Size}}' "$BUN_TAG") B"

# --- build ---------------------------------------------------------------------------------------
say "podman build $IMAGE"
build_start=$SECONDS
# --layers=false: no intermediate images pile up in vfs storage (a full copy each); the build takes ~20 s.
if podman build --format docker --isolation chroot --pull=never --layers=false \
  --build-arg BUN_IMAGE="$BUN_TAG" --build-arg RUNTIME_IMAGE="$RUNTIME_TAG" \
  -t "$IMAGE" . >"$WORK/build.log" 2>&1; then
  pass "image builds ($((SECONDS - build_start)) s)"
else
  tail -40 "$WORK/build.log"
  fail "image builds"
  finish
fi

# --- the image's configuration -----------------------------------------------------------------
fmt() { podman image inspect --format "$1" "$IMAGE"; }
size=$(fmt '{{.Size}}')
say "image size: $size B ($((size / 1024 / 1024)) MiB); binary $(fmt '{{.Config.Entrypoint}}')"
user=$(fmt '{{.Config.User}}')
workdir=$(fmt '{{.Config.WorkingDir}}')
mapfile -t image_env < <(fmt '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t entrypoint < <(fmt '{{range .Config.Entrypoint}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t cmd < <(fmt '{{range .Config.Cmd}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t volumes < <(fmt '{{range $k, $v := .Config.Volumes}}{{println $k}}{{end}}' | sed '/^$/d')
mapfile -t health < <(fmt '{{if .HealthCheck}}{{range .HealthCheck.Test}}{{println .}}{{end}}{{end}}' | sed '/^$/d')
health_secs=$(fmt '{{if .HealthCheck}}{{printf "%.0f" .HealthCheck.Timeout.Seconds}}{{end}}')
[[ ${health_secs:-0} -gt 0 ]] || health_secs=30 # docker's default
say "USER=$user WORKDIR=$workdir ENTRYPOINT=${entrypoint[*]} CMD=${cmd[*]:-} VOLUME=${volumes[*]:-} HEALTHCHECK=${health[*]:-}"
say "ENV: ${image_env[*]}"

if [[ $user =~ ^([0-9]+)(:([0-9]+))?$ ]] && [[ ${BASH_REMATCH[1]} -ne 0 ]] && [[ ${BASH_REMATCH[3]:-1} -ne 0 ]]; then
  uid=${BASH_REMATCH[1]}
  gid=${BASH_REMATCH[3]:-$uid}
  pass "USER is numeric and not root ($user)"
else
  fail "USER is numeric and not root (got '$user')"
  finish
fi
[[ ${#entrypoint[@]} -gt 0 && ${entrypoint[0]} == /* ]] && pass "ENTRYPOINT in exec form with an absolute path (${entrypoint[*]})" ||
  fail "ENTRYPOINT in exec form with an absolute path (got '${entrypoint[*]:-}')"

# --- the image's filesystem, as a runtime lays it out ------------------------------------------
rootfs=$WORK/rootfs
mkdir -p "$rootfs"
CONTAINER=$(podman create --pull=never "$IMAGE")
podman export "$CONTAINER" | tar -C "$rootfs" --numeric-owner -xf -
podman rm -f "$CONTAINER" >/dev/null 2>&1 # (it complains that there is no systemd for healthcheck timers)
CONTAINER=
mkdir -p "$rootfs/proc" "$rootfs/dev" "$rootfs/tmp" "$rootfs$workdir"
say "rootfs exported: $(du -sh "$rootfs" | cut -f1)"

if [[ -z $(ls -A "$rootfs$workdir") && $(stat -c %u "$rootfs$workdir") == 0 ]]; then
  pass "WORKDIR $workdir is empty and root-owned (no .env or bunfig.toml to autoload)"
else
  fail "WORKDIR $workdir is empty and root-owned ($(stat -c %u:%g "$rootfs$workdir"): $(ls -A "$rootfs$workdir" | head -5 | tr '\n' ' '))"
fi

# A fresh named volume takes the owner and mode of the image's folder (as docker run -v name:/data).
for v in "${volumes[@]}"; do
  owner=$(stat -c %u:%g "$rootfs$v" 2>/dev/null || echo missing)
  if [[ $owner == "$uid:$gid" ]]; then
    pass "VOLUME $v is owned by the image's USER ($owner, mode $(stat -c %a "$rootfs$v"))"
  else
    fail "VOLUME $v is owned by the image's USER (got $owner)"
  fi
done
[[ ${#volumes[@]} -gt 0 ]] || fail "the image declares a VOLUME"
new_volumes() {
  local v i=0
  rm -rf "$WORK/volumes"
  for v in "${volumes[@]}"; do
    mkdir -p "$WORK/volumes/$i"
    [[ -d $rootfs$v ]] && cp -a "$rootfs$v/." "$WORK/volumes/$i/" &&
      chown --reference="$rootfs$v" "$WORK/volumes/$i" && chmod --reference="$rootfs$v" "$WORK/volumes/$i"
    i=$((i + 1))
  done
}

# --- running a process of the image ---------------------------------------------------------------
port=
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 30000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[[ -n $port ]] || { fail "a free port"; finish; }
home=$(awk -F: -v u="$uid" '$3 == u { print $6; exit }' "$rootfs/etc/passwd")
# The image's ENV, then what `docker run -e` adds (a free PORT, the secret), as a runtime passes them.
run_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=session-counter-test HOME="${home:-/}")
run_env+=("${image_env[@]}" PORT="$port" SESSION_SECRET="$SECRET")
say "running as $uid:$gid in $workdir with PORT=$port"

# start_in_image LOG ENV... -- ARGV...: in the background; $! is the `unshare --fork` whose only
# child, PID 1 of the new PID namespace, is ARGV[0] (every step in between execs).
# Mounts like a runtime: a small /dev, /dev/shm, /proc (of the new PID namespace), the volumes.
start_in_image() {
  local log=$1 vargs=() e=() i=0 v
  shift
  while [[ $1 != -- ]]; do e+=("$1"); shift; done
  shift
  for v in "${volumes[@]}"; do vargs+=("$WORK/volumes/$i" "$v"); i=$((i + 1)); done
  # shellcheck disable=SC2016
  env -i unshare --mount --propagation private -- /bin/bash -c '
    set -e
    root=$1 wd=$2 uid=$3 gid=$4 nvol=$5; shift 5
    mount -t tmpfs -o mode=0755,nosuid,size=64k tmpfs "$root/dev"
    for n in null zero full random urandom tty; do touch "$root/dev/$n"; mount --bind "/dev/$n" "$root/dev/$n"; done
    mkdir "$root/dev/shm" "$root/dev/pts"
    mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m tmpfs "$root/dev/shm"
    ln -s /proc/self/fd "$root/dev/fd"; ln -s /proc/self/fd/0 "$root/dev/stdin"
    ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
    for ((j = 0; j < nvol; j++)); do mount --bind "$1" "$root$2"; shift 2; done
    env=(); while [[ $1 != -- ]]; do env+=("$1"); shift; done; shift
    exec /usr/bin/env -i "${env[@]}" /usr/bin/unshare --pid --fork --kill-child --mount-proc=/proc \
      --root="$root" --wd="$wd" --setgid="$gid" --setuid="$uid" -- "$@"
  ' start "$rootfs" "$workdir" "$uid" "$gid" "${#volumes[@]}" "${vargs[@]}" "${e[@]}" -- "$@" \
    </dev/null >"$log" 2>&1 &
  PIDS+=($!)
}
# run_in_image SECONDS LOG ENV... -- ARGV...: in the foreground, killed after SECONDS; returns its exit code.
run_in_image() {
  local secs=$1 code=0
  shift
  start_in_image "$@"
  local pid=$! t=0
  while kill -0 "$pid" 2>/dev/null && [[ $t -lt $((secs * 10)) ]]; do sleep 0.1; t=$((t + 1)); done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  wait "$pid" || code=$?
  return "$code"
}
# The process whose parent is $1 (the namespace's PID 1 under `unshare --fork`).
child_of() {
  local d
  for d in /proc/[0-9]*; do
    if [[ $(awk '/^PPid:/ { print $2 }' "$d/status" 2>/dev/null) == "$1" ]]; then echo "${d#/proc/}"; return 0; fi
  done
  echo none
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
wait_ready() { # PID LOG
  local t
  for t in $(seq 200); do
    curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  sed 's/^/  server: /' "$2" | tail -20
  return 1
}

server_argv=("${entrypoint[@]}" "${cmd[@]}")
health_argv=()
if [[ ${health[0]:-} == CMD ]]; then
  health_argv=("${health[@]:1}")
  pass "HEALTHCHECK in exec form (${health_argv[*]}, timeout $health_secs s)"
else
  fail "HEALTHCHECK in exec form (CMD, not CMD-SHELL: the runtime image has no shell; got '${health[*]:-none}')"
fi

# 1. Production without SESSION_SECRET: refuses to start.
new_volumes
code=0
nosecret_env=()
for e in "${run_env[@]}"; do [[ $e == SESSION_SECRET=* ]] || nosecret_env+=("$e"); done
run_in_image 20 "$WORK/nosecret.log" "${nosecret_env[@]}" -- "${server_argv[@]}" || code=$?
if [[ $code -ne 0 && $code -ne 137 ]] && grep -qi secret "$WORK/nosecret.log"; then
  pass "without SESSION_SECRET (NODE_ENV=production) it refuses to start (exit $code: $(head -1 "$WORK/nosecret.log" | cut -c1-90)...)"
else
  fail "without SESSION_SECRET (NODE_ENV=production) it refuses to start (exit $code)"
  sed 's/^/  server: /' "$WORK/nosecret.log" | tail -10
fi

# 2. The server, as the image's USER, PID 1 of its PID namespace.
new_volumes
start_in_image "$WORK/server.log" "${run_env[@]}" -- "${server_argv[@]}"
server=$!
ready_start=$(now_ms)
if wait_ready "$server" "$WORK/server.log"; then
  pass "server answers /healthz on port $port ($(($(now_ms) - ready_start)) ms after start)"
else
  fail "server answers /healthz on port $port"
  finish
fi
pid1=$(child_of "$server")
nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$pid1/status" 2>/dev/null || true)
exe=$(readlink "/proc/$pid1/exe" || true)
ids=$(awk '/^Uid:/ { u = $2 } /^Gid:/ { g = $2 } END { print u ":" g }' "/proc/$pid1/status" 2>/dev/null || true)
if [[ $nspid == 1 && $exe == "$rootfs${entrypoint[0]}" && $ids == "$uid:$gid" ]]; then
  pass "the server is PID 1 of its namespace, runs ${entrypoint[0]}, as $ids"
else
  fail "the server is PID 1 of its namespace, runs ${entrypoint[0]}, as $uid:$gid (got pid $nspid, $exe, $ids)"
fi

jar=$WORK/cookies.txt
r1=$(curl -sS -m 5 -c "$jar" -b "$jar" "http://127.0.0.1:$port/" || true)
r2=$(curl -sS -m 5 -c "$jar" -b "$jar" "http://127.0.0.1:$port/" || true)
if [[ $r1 == *"Welcome to this page for the first time!"* && $r2 == *"You visited this page 2 times"* ]]; then
  pass "counts 1 then 2 with a cookie jar ('$r1' / '$r2')"
else
  fail "counts 1 then 2 with a cookie jar (got '$r1' / '$r2')"
fi
if ls "$WORK"/volumes/*/sessions.db >/dev/null 2>&1; then
  pass "the session database is in the volume ($(cd "$WORK/volumes" && ls */ | tr '\n' ' '))"
else
  fail "the session database is in the volume"
fi

if [[ ${#health_argv[@]} -gt 0 ]]; then
  code=0
  run_in_image "$health_secs" "$WORK/health-up.log" "${run_env[@]}" -- "${health_argv[@]}" || code=$?
  [[ $code -eq 0 ]] && pass "HEALTHCHECK exits 0 while the server is up" ||
    { fail "HEALTHCHECK exits 0 while the server is up (exit $code)"; sed 's/^/  health: /' "$WORK/health-up.log" | tail -5; }
fi

# 3. docker stop: SIGTERM to PID 1, then SIGKILL after 10 s.
# The signal goes to the binary itself (PID 1 inside), not to unshare; unshare --fork then exits
# with the binary's own exit code (or re-raises the signal that killed it).
stop_server() { # SIGNAL -> sets stop_code, stop_ms
  local t0
  t0=$(now_ms)
  kill "-$1" "$pid1" || true
  while kill -0 "$server" 2>/dev/null && [[ $(($(now_ms) - t0)) -lt 10000 ]]; do sleep 0.05; done
  stop_ms=$(($(now_ms) - t0))
  if kill -0 "$server" 2>/dev/null; then kill -KILL "$pid1" || true; fi
  stop_code=0
  wait "$server" || stop_code=$?
}
stop_server TERM
if [[ $stop_code -eq 0 && $stop_ms -lt 10000 ]]; then
  pass "SIGTERM to PID 1: exit code 0 after $stop_ms ms"
else
  fail "SIGTERM to PID 1: exit code 0 within 10 s (exit $stop_code after $stop_ms ms)"
fi
sed 's/^/  server: /' "$WORK/server.log" | tail -4

if [[ ${#health_argv[@]} -gt 0 ]]; then
  code=0
  t0=$(now_ms)
  run_in_image "$health_secs" "$WORK/health-down.log" "${run_env[@]}" -- "${health_argv[@]}" || code=$?
  [[ $code -ne 0 ]] && pass "HEALTHCHECK exits non-zero when the server is down (exit $code after $(($(now_ms) - t0)) ms)" ||
    fail "HEALTHCHECK exits non-zero when the server is down (exit 0)"
fi

# 4. A new container on the same volume: the sessions and the counts are still there.
start_in_image "$WORK/server2.log" "${run_env[@]}" -- "${server_argv[@]}"
server=$!
if wait_ready "$server" "$WORK/server2.log"; then
  pid1=$(child_of "$server")
  r3=$(curl -sS -m 5 -c "$jar" -b "$jar" "http://127.0.0.1:$port/" || true)
  [[ $r3 == *"You visited this page 3 times"* ]] && pass "a restart on the same volume keeps the count ('$r3')" ||
    fail "a restart on the same volume keeps the count (got '$r3')"
  stop_server TERM
  [[ $stop_code -eq 0 ]] && pass "second SIGTERM stop: exit code 0 after $stop_ms ms" ||
    fail "second SIGTERM stop: exit code 0 (exit $stop_code after $stop_ms ms)"
else
  fail "a restart on the same volume keeps the count (server did not start)"
fi

say "image size: $size B ($((size / 1024 / 1024)) MiB)"
finish
