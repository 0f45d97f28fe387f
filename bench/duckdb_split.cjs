// Splits a CSV file by one column into a folder per value with DuckDB
// (@duckdb/node-api), the peer of `partita bench dataplane`; prints the
// seconds the split took, from opening the database to the last file.
//
//   node duckdb_split.cjs MODULE_DIR INPUT.csv OUT_DIR COLUMN THREADS
const [mod, input, out, key, threads] = process.argv.slice(2);
const { DuckDBInstance } = require(mod);

const literal = (s) => "'" + s.replaceAll("'", "''") + "'";
const ident = (s) => '"' + s.replaceAll('"', '""') + '"';

(async () => {
  const start = process.hrtime.bigint();
  const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const conn = await db.connect();
  await conn.run(
    `COPY (SELECT * FROM read_csv(${literal(input)}, header = true, all_varchar = true)) ` +
      `TO ${literal(out)} (FORMAT csv, PARTITION_BY (${ident(key)}), OVERWRITE_OR_IGNORE)`,
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  conn.closeSync();
  db.closeSync();
  console.log(JSON.stringify({ seconds }));
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
