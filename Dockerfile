# session-counter: one compiled executable on a small glibc base that runs as non-root.
#   docker build -t session-counter .
#   docker run -d -p 3000:3000 -v sessions:/data -e SESSION_SECRET=... session-counter
# tests/image/run.sh builds this same file with other base images (local stand-ins).
ARG BUN_IMAGE=oven/bun:1.4.5
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUN_IMAGE} AS build
WORKDIR /src
# Dependencies first: this layer stays cached while only the sources change.
COPY package.json bun.lock bunfig.toml tsconfig.json ./
# The workspace: the session library the app imports by name, and the examples' manifests (bun
# install checks the lockfile against every workspace member).
COPY packages/elysia-server-session/package.json ./packages/elysia-server-session/
COPY examples/demo/package.json ./examples/demo/
RUN bun install --frozen-lockfile --production
COPY packages/elysia-server-session/src ./packages/elysia-server-session/src
COPY src ./src
RUN bun run build \
 && ./dist/session-counter --help >/dev/null \
 && mkdir -p /out/data \
 && chown 65532:65532 /out/data

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/dist/session-counter /app/session-counter
# The volume's folder, owned by the runtime user: a fresh named volume takes this owner.
COPY --from=build --chown=65532:65532 /out/data /data
# An empty, root-owned working folder: the executable loads no .env or bunfig.toml from it.
WORKDIR /run/session-counter
USER 65532:65532
ENV SESSION_DB=/data/sessions.db NODE_ENV=production PORT=3000 HOST=0.0.0.0
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD ["/app/session-counter", "healthcheck"]
ENTRYPOINT ["/app/session-counter"]
