# framewire worker: takes the freshest frame, analyses it, publishes results to the gateway (docs/worker.md)
# The build context is the staged build output that `npm run images` makes (tmp/docker-context:
# dist/ and the production node_modules only); docker/README.md says how to build it by hand.
# Nothing is downloaded while building: the app is compiled on the host.
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}

ENV NODE_ENV=production
WORKDIR /app
# The same two layers in every framewire image (Docker shares them): dependencies, then the build.
# Owned by root and read-only to the service's user: the service cannot change its own code.
COPY node_modules/ node_modules/
COPY dist/ dist/
# The trained models of the model analyzers (detect, pose, person-seg; models/manifest.json), found
# at /app/models by the worker and checked file by file at start.
COPY models/ models/

# The official image's unprivileged user (uid 1000). Co-located services run as the same uid, so
# the owner-only (0600) shared-memory ring of capture is readable by the supplier and workers.
USER node
ENV FW_GRPC_PORT=50053 FW_LOG_FORMAT=json
EXPOSE 50053

# Asks the service's own grpc.health.v1 (SERVING only once it has started, NOT_SERVING as soon as
# it begins to stop); tools/health-probe. Exec form: no shell needed in the image.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "/app/dist/tools/health-probe/health-probe.js"]

# node is PID 1 and handles SIGTERM itself: NOT_SERVING, drain, exit within FW_SHUTDOWN_TIMEOUT_MS
# (default 10 s; give `docker stop` a longer grace, e.g. --stop-timeout 15 / compose stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node"]
CMD ["--enable-source-maps", "dist/apps/worker/src/main.js"]

# Last, so that a new revision does not invalidate the layers above.
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="framewire-worker" \
      org.opencontainers.image.description="framewire worker: takes the freshest frame, analyses it, publishes results to the gateway (docs/worker.md)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.documentation="docs/deploy.md" \
      io.framewire.service="worker" \
      io.framewire.grpc-port="50053"
