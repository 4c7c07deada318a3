#!/usr/bin/env bash
# Regenerates the migrations from drizzle/schema.ts while nothing is released: one generated migration (0000)
# plus the hand-written ones kept aside. Run under a lock so two developers do not interleave.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/kyc-drizzle.lock
flock 9
keep=$(mktemp -d)
cp drizzle/migrations/0001_audit_log_append_only.sql "$keep/"
rm -rf drizzle/migrations
npx drizzle-kit generate --name initial >/dev/null
npx drizzle-kit generate --custom --name audit_log_append_only >/dev/null
cp "$keep/0001_audit_log_append_only.sql" drizzle/migrations/
rm -rf "$keep"
echo "migrations regenerated:"; ls drizzle/migrations
