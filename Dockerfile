# The service's image: the API (`npm run api`) and the worker (`npm run worker`) run from it, both compiled
# JavaScript (`npm run build`: dist/), and so does the one-shot migration (dist/src/db/migrate-cli.js).
FROM node:20-slim

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them. A plain `npm ci`: the build needs the
# development dependencies (TypeScript, Vite); the on-call CLI (`npm run cli`) runs through tsx.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY . .

# Local file storage (imports' uploads, exports' files) when S3_BUCKET is not set: a volume shared by the
# API and the worker is mounted here (see docker-compose.yml).
RUN mkdir -p /app/.data && chown node:node /app/.data

# The compiled service (dist/), the operator console (web/ built into web/dist, which the API serves under
# /console/) and the workflows bundled at build time (dist/workflow-bundle.js: the worker then carries no webpack).
RUN npm run build

ENV NODE_ENV=production \
    DATA_DIR=/app/.data \
    PORT=3000 \
    HOST=0.0.0.0 \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js

USER node
EXPOSE 3000 9464

CMD ["npm", "run", "api"]
