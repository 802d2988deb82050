# One image per function, from one Dockerfile: the function is a build argument.
# Build from the repository root, for example:
#   docker build --build-arg FUNCTION=task-api -t taskapp/task-api:dev .
# FUNCTION names a folder of functions/ (= the Dapr app-id, the Deployment and the image name), or
# is dead-letter-tool: the operators' dead-letter tool (tools/dead-letter/cli.ts, npm run dlq), which
# the Job of deploy/components/dead-letter-tool runs.
# The image holds that entry point and what it imports, bundled into one ES module, plus the
# production dependencies exactly as locked; it runs as an unprivileged user on a read-only root
# filesystem.
#
# Node.js 24 (active LTS), pinned by its full version tag; bump it in all three stages at once.
ARG FUNCTION

# Production dependencies, exactly as locked.
FROM node:24.21.0-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# Bundle the entry point with esbuild (the compiler tsx runs on); npm packages stay external, and
# only what the entry point imports is bundled, so no other function's code enters the image.
FROM node:24.21.0-slim AS build
ARG FUNCTION
WORKDIR /app
RUN test -n "${FUNCTION}" || { echo "--build-arg FUNCTION=<folder of functions/, or dead-letter-tool> is required" >&2; exit 1; }
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY shared/ shared/
COPY functions/ functions/
COPY tools/ tools/
RUN if [ "${FUNCTION}" = dead-letter-tool ]; then echo tools/dead-letter/cli.ts; else echo "functions/${FUNCTION}/main.ts"; fi > entry
RUN test -f "$(cat entry)" || { echo "$(cat entry) does not exist" >&2; exit 1; }
RUN npx esbuild "$(cat entry)" --bundle --platform=node --target=node24 --format=esm --packages=external --sourcemap --outfile=dist/main.mjs

FROM node:24.21.0-slim
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /app/dist/ ./
# The node user of the base image, by number so Kubernetes can verify runAsNonRoot.
USER 1000:1000
CMD ["node", "--enable-source-maps", "main.mjs"]
