# syntax=docker/dockerfile:1
# stepgate in a container (README.md "Deploy"). There is no build step: Node 24 runs the
# TypeScript sources as they are (type stripping), so the image holds the sources, the production
# dependencies and Node 24 — nothing from devDependencies (test/deploy/production-install.test.ts
# does what this file does, natively, on a clean clone).
#
# Node 24 comes from the official node:24 image, not from the `node` npm package the project
# depends on for developers' machines: that package's install script downloads a second Node
# binary at install time, unpinned by the lock file. --ignore-scripts skips it (it is the only
# production dependency with an install script) and the image runs the base image's Node 24.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# Nothing runs npm, npx, corepack or yarn at run time: they leave the image. /var/lib/stepgate is
# the one writable path (the audit file sink); the root file system may be read-only.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
        /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
    && mkdir -p /etc/stepgate /var/lib/stepgate/audit \
    && chown -R 1000:1000 /var/lib/stepgate
WORKDIR /app
ENV NODE_ENV=production \
    STEPGATE_CONFIG=/etc/stepgate/gateway.yaml
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# The `node` user of the base image, by number so that runAsNonRoot can verify it.
USER 1000:1000
# server.port (public) and admin.port (/healthz, /readyz, /metrics) of the config.
EXPOSE 8080 9090
VOLUME ["/var/lib/stepgate"]
# stepgate health asks admin /readyz (the config's admin listener) and waits at most 5 s.
HEALTHCHECK --interval=10s --timeout=7s --start-period=20s --retries=3 \
    CMD ["node", "/app/bin/stepgate.js", "health"]
ENTRYPOINT ["node", "/app/bin/stepgate.js"]
CMD ["serve"]
