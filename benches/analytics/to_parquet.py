"""Converts `palisade simulate` JSONL into Parquet for the analytics benchmarks.

    python benches/analytics/to_parquet.py IN.jsonl OUT.parquet

Every contract field is kept with the contract's name; `timestamp` becomes a
UTC datetime in milliseconds, as a table exported from a warehouse would hold
it. Streams (polars' sink_parquet), so memory stays small on any input size.
"""

import sys

import polars as pl

SCHEMA = {
    "event_id": pl.String,
    "timestamp": pl.String,
    "kind": pl.String,
    "user": pl.String,
    "user_exists": pl.Boolean,
    "ip": pl.String,
    "outcome": pl.String,
    "failure_reason": pl.String,
    "user_agent": pl.String,
    "device_id": pl.String,
    "password_sha1": pl.String,
    "mfa": pl.String,
    "tenant": pl.String,
    "label": pl.String,
}


def main(src: str, dst: str) -> None:
    (
        pl.scan_ndjson(src, schema=SCHEMA)
        .with_columns(
            pl.col("timestamp").str.to_datetime(
                "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", time_zone="UTC"
            )
        )
        .sink_parquet(dst, row_group_size=1_000_000)
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
