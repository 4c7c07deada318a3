/** The part of `tmp` (exceljs's temporary files) that src/imports/xlsx-records.ts wraps; the package has no types. */
declare module 'tmp' {
  const tmp: { file: (...args: unknown[]) => void };
  export default tmp;
}
