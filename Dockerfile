# The user-sync image: `user-sync worker` by default, any other command as arguments
# (`docker build -t user-sync . && docker run --rm user-sync --help`). docker-compose.yml uses it.

# Build: all dependencies, TypeScript compiled to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies, the compiled package and the examples, as a non-root user.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY examples ./examples
# Not root: `node` (uid 1000) comes with the base image.
USER node
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["worker"]
