"""Records on the wire: partitions as the rater's, messages that round-trip, text parsed the
way a file is, partition lists."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from openmvne.errors import InvalidInput
from openmvne.services import usage, usage_generate
from openmvne.streaming import codec
from openmvne.streaming.layout import Layout, describe_partitions, parse_partitions


def test_partitions_are_the_raters() -> None:
    numbers = [f"171{n:08d}" for n in range(0, 5000, 7)] + ["19999999999", "13800138000"]
    got = codec.partitions_of(pa.array(numbers)).tolist()
    assert got == [usage.partition_of(m) for m in numbers]
    # Not numbers at all: partition 0, where the rater quarantines them.
    assert codec.partitions_of(pa.array(["abc", None, "", "1710000001x"])).tolist() == [0] * 4


def test_split_keeps_every_record_once_in_its_partition() -> None:
    msisdns = [f"171{n:08d}" for n in range(300)]
    table = usage_generate.generate(msisdns, days=3, start=date(2026, 3, 1), seed=5, per_day=10)
    messages = list(codec.split(table, per_message=100))
    assert sum(m.records for m in messages) == table.num_rows
    assert all(m.records <= 100 for m in messages)
    parts = []
    for message in messages:
        part = codec.decode(message.payload)
        assert part.schema == codec.SCHEMA
        assert {usage.partition_of(m) for m in part.column("msisdn").to_pylist()} == {
            message.partition
        }
        # Within a partition, the records keep their order (time order here).
        times = part.column("start_time").to_pylist()
        assert times == sorted(times)
        parts.append(part)
    back = pa.concat_tables(parts).sort_by([("node_id", "ascending"), ("seq", "ascending")])
    assert back.equals(table.sort_by([("node_id", "ascending"), ("seq", "ascending")]))
    # The message id is the content's: the same records in the same message, the same id.
    again = list(codec.split(table, per_message=100))
    assert [m.msg_id for m in again] == [m.msg_id for m in messages]
    assert len({m.msg_id for m in messages}) == len(messages)


def test_messages_fit_under_the_size_limit() -> None:
    msisdns = [f"171{n:08d}" for n in range(50)]
    table = usage_generate.generate(msisdns, days=10, start=date(2026, 3, 1), seed=5, per_day=20)
    messages = list(codec.split(table, per_message=10_000, max_bytes=8_000))
    assert all(len(m.payload) <= 8_000 for m in messages)
    assert sum(m.records for m in messages) == table.num_rows


def test_text_is_parsed_as_a_file_is(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(
        "node_id,seq,msisdn,type,start_time,quantity,direction\n"
        "44-MSC,1,17100000001,voice,2026-03-01T08:00:00Z,61,mo\n"
        "44-MSC,x,17100000001,voice,2026-03-01T08:00:00Z,61,mo\n"
        "44-MSC,3,17100000001,voice,not a time,-5,mo\n"
        "44-MSC,1.4,17100000001,voice,2026-03-01T08:00:00Z,60.4,mo\n"
        "44-MSC,5,17100000001,voice,2026-03-01T08:00:00Z,60.0\n"
    )
    table = codec.read_files([path])
    assert table.schema == codec.SCHEMA
    rows = table.to_pylist()
    assert (rows[0]["seq"], rows[0]["quantity"]) == (1, 61)
    assert rows[0]["start_time"].isoformat() == "2026-03-01T08:00:00+00:00"
    assert (rows[0]["province"], rows[0]["partial_seq"]) == (None, None)
    # What does not parse is NULL: the rater quarantines it, as it would in a file.
    assert rows[1]["seq"] is None
    assert (rows[2]["start_time"], rows[2]["quantity"]) == (None, -5)
    # Fractions are not rounded into another record's id or a shorter call: NULL, as in a file.
    assert (rows[3]["seq"], rows[3]["quantity"]) == (None, None)
    # A line cut short keeps its fields (60.0 is whole), the missing one NULL; left to guess,
    # the CSV sniffer read the whole file as one column.
    assert (rows[4]["seq"], rows[4]["quantity"], rows[4]["direction"]) == (5, 60, None)
    parts = tmp_path / "parts.csv"
    parts.write_text(
        "node_id,seq,msisdn,type,start_time,quantity,direction,partial_seq\n"
        "44-MSC,6,17100000001,data,2026-03-01T08:00:00Z,1024,mo,\n"
        "44-MSC,7,17100000001,data,2026-03-01T08:00:00Z,1024,mo,2\n"
        "44-MSC,8,17100000001,data,2026-03-01T08:00:00Z,1024,mo,x\n"
    )
    # Empty: a whole record (the rater reads NULL as 0); no whole number: -1, which the rater
    # quarantines as "bad partial sequence", as it does in a file (it was rounded or 0).
    assert codec.read_files([parts]).column("partial_seq").to_pylist() == [None, 2, -1]
    bad = tmp_path / "bad.csv"
    bad.write_text("node_id,seq\nx,1\n")
    with pytest.raises(InvalidInput) as err:
        codec.read_files([bad])
    assert err.value.code == "missing_columns"
    with pytest.raises(InvalidInput):
        codec.read_files([tmp_path / "missing.csv"])


def test_a_time_without_an_offset_is_not_taken_for_utc() -> None:
    """As in a file: text without an offset, or a timestamp without time zone, is local
    time of no stated zone; NULL, so the rater quarantines it (bad start time)."""
    text = pa.table(
        {
            "node_id": ["n"] * 4,
            "seq": ["1", "2", "3", "4"],
            "msisdn": ["17100000001"] * 4,
            "type": ["sms"] * 4,
            "start_time": [
                "2026-03-01 08:00:00",
                "2026-03-01 08:00:00 CST",
                "2026-03-01T08:00:00+08:00",
                "2026-03-01T00:00:00Z",
            ],
            "quantity": ["1"] * 4,
            "direction": ["mo"] * 4,
        }
    )
    times = [t and t.isoformat() for t in codec.normalise(text).column("start_time").to_pylist()]
    assert times == [None, None, "2026-03-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"]
    when = datetime(2026, 3, 1, tzinfo=UTC)
    local = when.replace(tzinfo=None)
    naive = text.set_column(4, "start_time", pa.array([local] * 4, pa.timestamp("us")))
    assert codec.normalise(naive).column("start_time").to_pylist() == [None] * 4
    zoned = text.set_column(4, "start_time", pa.array([when] * 4, pa.timestamp("ns", "UTC")))
    assert codec.normalise(zoned).column("start_time").to_pylist() == [when] * 4


def test_partition_lists_and_names() -> None:
    assert parse_partitions(None) == list(range(16))
    assert parse_partitions("0-7") == list(range(8))
    assert parse_partitions("0,3,5-6") == [0, 3, 5, 6]
    assert describe_partitions([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    for bad in ("8-3", "16", "a", "1-2-3", "-1"):
        with pytest.raises(InvalidInput):
            parse_partitions(bad)
    assert Layout().subject(3) == "usage.p.3"
    assert Layout(stream="T_1").prefix == "t_1.p"
    with pytest.raises(InvalidInput):
        Layout(stream="a.b")
