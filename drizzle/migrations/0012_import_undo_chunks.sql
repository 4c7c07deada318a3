CREATE TABLE "import_undo_chunks" (
	"import_id" uuid NOT NULL,
	"chunk_no" integer NOT NULL,
	"written_updated_at" timestamp (3) with time zone NOT NULL,
	"before" "users"[] DEFAULT '{}' NOT NULL,
	"created_ids" uuid[] DEFAULT '{}' NOT NULL,
	"created_vendor_data" text[] DEFAULT '{}' NOT NULL,
	"no_image_ids" uuid[] DEFAULT '{}' NOT NULL,
	"no_image_vendor_data" text[] DEFAULT '{}' NOT NULL,
	"undone_at" timestamp (3) with time zone,
	CONSTRAINT "import_undo_chunks_import_id_chunk_no_pk" PRIMARY KEY("import_id","chunk_no")
);
--> statement-breakpoint
CREATE TABLE "import_undo_conflicts" (
	"import_id" uuid NOT NULL,
	"chunk_no" integer NOT NULL,
	"user_id" uuid NOT NULL,
	"vendor_data" text NOT NULL,
	"reason" text NOT NULL,
	CONSTRAINT "import_undo_conflicts_import_id_chunk_no_user_id_pk" PRIMARY KEY("import_id","chunk_no","user_id")
);
--> statement-breakpoint
ALTER TABLE "import_undo_chunks" ADD CONSTRAINT "import_undo_chunks_import_id_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "import_undo_conflicts" ADD CONSTRAINT "import_undo_conflicts_import_id_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- The images are stored as they are (uncompressed, see drizzle/schema.ts importUndoChunks).
ALTER TABLE "import_undo_chunks" ALTER COLUMN "before" SET STORAGE EXTERNAL;--> statement-breakpoint
-- The images kept so far (one row per user in import_undo_images, dropped by the next migration), one row per chunk.
-- A chunk's undo ran in one transaction, so a chunk is either wholly undone (its images all have an outcome) or not.
INSERT INTO "import_undo_chunks" ("import_id", "chunk_no", "written_updated_at", "before", "created_ids", "created_vendor_data", "no_image_ids", "no_image_vendor_data", "undone_at")
SELECT i."import_id", i."chunk_no", max(i."written_updated_at"),
  COALESCE(array_agg(jsonb_populate_record(NULL::"users", i."before") ORDER BY i."user_id") FILTER (WHERE i."kind" = 'updated' AND i."before" IS NOT NULL), '{}'),
  COALESCE(array_agg(i."user_id" ORDER BY i."user_id") FILTER (WHERE i."kind" = 'created'), '{}'),
  COALESCE(array_agg(i."vendor_data" ORDER BY i."user_id") FILTER (WHERE i."kind" = 'created'), '{}'),
  COALESCE(array_agg(i."user_id" ORDER BY i."user_id") FILTER (WHERE i."kind" = 'updated' AND i."before" IS NULL), '{}'),
  COALESCE(array_agg(i."vendor_data" ORDER BY i."user_id") FILTER (WHERE i."kind" = 'updated' AND i."before" IS NULL), '{}'),
  CASE WHEN bool_and(i."outcome" IS NOT NULL) THEN now() END
FROM "import_undo_images" i
GROUP BY i."import_id", i."chunk_no";--> statement-breakpoint
INSERT INTO "import_undo_conflicts" ("import_id", "chunk_no", "user_id", "vendor_data", "reason")
SELECT "import_id", "chunk_no", "user_id", "vendor_data", "reason" FROM "import_undo_images" WHERE "outcome" = 'conflict' AND "reason" IS NOT NULL;
