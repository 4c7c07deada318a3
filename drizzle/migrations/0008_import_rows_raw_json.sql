-- The raw cells as JSON text: COPY reads it without parsing an array literal per row (staging writes it with one
-- JSON.stringify; see src/imports/copy-text.ts).
ALTER TABLE "import_rows" ALTER COLUMN "raw" SET DATA TYPE json USING to_json("raw");
