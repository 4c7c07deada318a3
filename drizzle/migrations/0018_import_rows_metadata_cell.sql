ALTER TABLE "import_rows" ADD COLUMN "metadata_cell" text;--> statement-breakpoint
-- From here on a NULL raw means "the cells are the staged values' text" (src/imports/raw-cells.ts). Rows staged
-- before raw existed (0002) have no cells on record: they keep meaning that, as an empty list.
UPDATE "import_rows" SET "raw" = '[]'::json WHERE "raw" IS NULL;
