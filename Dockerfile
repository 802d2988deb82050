# One image per function, from one Dockerfile: the function is a build argument.
# Build from the repository root, for example:
#   docker build --build-arg FUNCTION=task-api -t taskapp/task-api:dev .
# FUNCTION names a folder of functions/ (= the Dapr app-id, the Deployment and the image name).
# The image holds that function and shared/, bundled into one ES module, plus the production
# dependencies exactly as locked; it runs as an unprivileged user on a read-only root filesystem.
#
# Node.js 24 (active LTS), pinned by its full version tag; bump it in all three stages at once.
ARG FUNCTION

# Production dependencies, exactly as locked.
FROM node:24.21.0-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# Bundle the function with esbuild (the compiler tsx runs on); npm packages stay external, so no
# other function's code enters the image.
FROM node:24.21.0-slim AS build
ARG FUNCTION
WORKDIR /app
RUN test -n "${FUNCTION}" || { echo "--build-arg FUNCTION=<folder of functions/> is required" >&2; exit 1; }
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY shared/ shared/
COPY functions/${FUNCTION}/ functions/${FUNCTION}/
RUN test -f "functions/${FUNCTION}/main.ts" || { echo "functions/${FUNCTION}/main.ts does not exist" >&2; exit 1; }
RUN npx esbuild functions/${FUNCTION}/main.ts --bundle --platform=node --target=node24 --format=esm --packages=external --sourcemap --outfile=dist/main.mjs

FROM node:24.21.0-slim
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /app/dist/ ./
# The node user of the base image, by number so Kubernetes can verify runAsNonRoot.
USER 1000:1000
CMD ["node", "--enable-source-maps", "main.mjs"]
