#!/bin/sh
# Uses the suite's own database and proves that no other suite's data is visible in it.
# Run twice at once (two suites with different HODEI_E2E_SUITE): each must see only its rows.
set -eu
echo "suite ${HODEI_E2E_SUITE}: database ${PGDATABASE} on ${PGHOST}:${PGPORT}"
psql -v ON_ERROR_STOP=1 -qAt <<SQL
CREATE TABLE jobs (id serial PRIMARY KEY, owner text NOT NULL);
INSERT INTO jobs (owner) SELECT '${HODEI_E2E_SUITE}' FROM generate_series(1, 100);
SQL
for step in 1 2 3; do
    sleep 0.2
    others=$(psql -qAt -c "SELECT count(*) FROM jobs WHERE owner <> '${HODEI_E2E_SUITE}'")
    mine=$(psql -qAt -c "SELECT count(*) FROM jobs WHERE owner = '${HODEI_E2E_SUITE}'")
    echo "check ${step}: ${mine} rows of mine, ${others} of other suites"
    [ "${mine}" = 100 ] && [ "${others}" = 0 ] || { echo "isolation broken" >&2; exit 1; }
done
echo "test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
