/** A keyset position in a list ordered newest first: the row's created_at, then its id (the tie-break). */
export interface Cursor {
  createdAt: Date;
  id: string;
}
