# The service's image: the API (`npm run api`) and the worker (`npm run worker`) run from it; so does the
# one-shot migration (`npm run db:migrate`). TypeScript runs through tsx, a runtime dependency: no build step.
FROM node:20-slim

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them. A plain `npm ci`: tsx and drizzle's
# migrator are needed at run time.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY . .

# Local file storage (imports' uploads, exports' files) when S3_BUCKET is not set: a volume shared by the
# API and the worker is mounted here (see docker-compose.yml).
RUN mkdir -p /app/.data && chown node:node /app/.data

# The operator console (web/), built into web/dist, which the API serves under /console/.
RUN npm run build:web

# The workflows, bundled at build time: the worker then carries no webpack (~130 MB less).
RUN npm run bundle:workflows -- /app/dist/workflow-bundle.js

ENV NODE_ENV=production \
    DATA_DIR=/app/.data \
    PORT=3000 \
    HOST=0.0.0.0 \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js

USER node
EXPOSE 3000

CMD ["npm", "run", "api"]
