"""The data contract on single files, read by `RowReader`: which rows load, which are rejected and why."""

import pytest

from include.finance.contract import (
    CHARGE,
    MAX_LINE_BYTES,
    MAX_RECORD_LINES,
    PG_MAX_COLUMNS,
    RAW_PREVIEW_BYTES,
    SATISFACTION,
    ContractError,
)
from include.finance.loading.reader import RowReader, match_header

SAT_HEADER = "customer_id,customer_satisfaction_speed,customer_satisfaction_product,customer_satisfaction_service,product_type\n"


def read(contract, data: bytes, chunk: int = 7):
    """Good rows, rejects and the reader; the bytes arrive in small chunks, as from a stream."""
    reader = RowReader(contract, [data[i:i + chunk] for i in range(0, len(data), chunk)], "f.csv")
    rows = list(reader)
    return rows, [(r.line, r.reason, r.raw) for r in reader.rejects], reader


def charge_row(**values) -> dict:
    row = {"id": "ch_1", "amount": "1500", "amount_captured": "1500", "currency": "usd", "created": "1767225600",
           "customer_id": "cus_a", "paid": "true", "status": "succeeded"}
    row.update(values)
    return row


def charge_file(*rows: dict) -> bytes:
    names = list(rows[0])
    lines = [",".join(names)] + [",".join(r[n] for n in names) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def test_good_rows_come_in_contract_order_with_line_numbers():
    rows, rejects, reader = read(SATISFACTION, (SAT_HEADER + "cus_a,1,2,3,basic\ncus_b,10,0,5,premium\n").encode())
    assert rows == [(2, ["cus_a", "1", "2", "3", "basic"]), (3, ["cus_b", "10", "0", "5", "premium"])]
    assert rejects == [] and reader.rows_read == 2


def test_column_order_does_not_matter_and_extra_columns_are_ignored():
    data = b"product_type,Extra,customer_satisfaction_service,customer_id,customer_satisfaction_product,customer_satisfaction_speed\n" \
           b"basic,zzz,3,cus_a,2,1\n"
    rows, rejects, reader = read(SATISFACTION, data)
    assert rows == [(2, ["cus_a", "1", "2", "3", "basic"])]
    assert reader.header.ignored == ["extra"]


def test_crlf_and_a_byte_order_mark_are_accepted():
    data = "\ufeff" + SAT_HEADER.replace("\n", "\r\n") + "cus_a,1,2,3,basic\r\ncus_b,4,5,6,basic\r\n"
    rows, rejects, _ = read(SATISFACTION, data.encode())
    assert [r[1][0] for r in rows] == ["cus_a", "cus_b"] and rejects == []


def test_quoted_text_keeps_commas_quotes_and_newlines_and_lines_are_counted_physically():
    data = charge_file(charge_row(description='"Invoice 1, ""gold"" plan\nsecond line"'), charge_row(id="ch_2", description=""))
    rows, rejects, _ = read(CHARGE, data)
    description = CHARGE.names.index("description")
    assert rows[0][1][description] == 'Invoice 1, "gold" plan\nsecond line'
    assert [line for line, _ in rows] == [2, 4]  # the first row spans lines 2 and 3
    assert rejects == []


def test_amounts_above_2_to_the_31_load_and_last4_keeps_its_zeros():
    data = charge_file(charge_row(amount="5000000000", amount_captured="5000000000",
                                  payment_method_details_card_last4="0042"))
    rows, rejects, _ = read(CHARGE, data)
    values = dict(zip(CHARGE.names, rows[0][1]))
    assert values["amount"] == "5000000000" and values["payment_method_details_card_last4"] == "0042"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"amount": "12.50"}, "amount: not a non-negative integer: '12.50'"),
        ({"amount": "abc"}, "amount: not a non-negative integer: 'abc'"),
        ({"amount": "-100"}, "amount: not a non-negative integer: '-100'"),
        ({"amount": ""}, "missing amount"),
        ({"amount": "99999999999999999999"}, "amount: not a non-negative integer: '99999999999999999999'"),
        ({"customer_id": "  "}, "missing customer_id"),
        ({"amount": "1e3"}, "amount: not a non-negative integer: '1e3'"),
        ({"amount": "\u0661"}, "amount: not a non-negative integer: '\u0661'"),  # an Arabic-Indic digit
        ({"paid": "o"}, "paid: not a boolean (true/false, t/f, yes/no, y/n, on/off, 1/0): 'o'"),
        ({"status": " succeeded"}, "status: not one of succeeded, pending, failed: ' succeeded'"),
        ({"paid": "maybe"}, "paid: not a boolean (true/false, t/f, yes/no, y/n, on/off, 1/0): 'maybe'"),
        ({"status": "refunded"}, "status: not one of succeeded, pending, failed: 'refunded'"),
    ],
)
def test_a_bad_value_rejects_the_row_with_the_column_and_the_reason(values, reason):
    data = charge_file(charge_row(id="ch_ok"), charge_row(id="ch_bad", **values))
    rows, rejects, reader = read(CHARGE, data)
    assert [r[1][0] for r in rows] == ["ch_ok"]
    assert rejects == [(3, reason, data.decode().splitlines()[2])]
    assert reader.rows_read == 2


@pytest.mark.parametrize("spelling", ["true", "TRUE", "t", "Yes", "y", "1", "on", " tru ", "false", "F", "no", "N",
                                      "0", "off", "of", "fals"])
def test_booleans_in_the_spellings_postgresql_reads(spelling):
    rows, rejects, _ = read(CHARGE, charge_file(charge_row(paid=spelling)))
    assert rows[0][1][CHARGE.names.index("paid")] == ("t" if spelling.strip().lower() in {"true", "tru", "t", "yes", "y",
                                                                                          "1", "on"} else "f")


def test_values_are_read_as_postgresql_reads_them():
    """Numbers may carry spaces and a plus sign; text keeps its spaces; an empty optional value is NULL."""
    data = charge_file(charge_row(amount=" +1500 ", amount_captured="\t0", description="  two spaces ",
                                  outcome_reason="", failure_code="  "))
    rows, rejects, _ = read(CHARGE, data)
    values = dict(zip(CHARGE.names, rows[0][1]))
    assert rejects == []
    assert (values["amount"], values["amount_captured"]) == ("+1500", "0")
    assert (values["description"], values["outcome_reason"], values["failure_code"]) == ("  two spaces ", None, "  ")


@pytest.mark.parametrize("score", ["-1", "11", "5.5", "five"])
def test_satisfaction_scores_outside_0_to_10_are_rejected(score):
    rows, rejects, _ = read(SATISFACTION, (SAT_HEADER + f"cus_a,{score},2,3,basic\n").encode())
    assert rows == [] and rejects[0][1] == f"customer_satisfaction_speed: not an integer from 0 to 10: '{score}'"


def test_short_and_long_rows_are_rejected_with_their_raw_text():
    rows, rejects, _ = read(SATISFACTION, (SAT_HEADER + "cus_a,1,2\ncus_b,1,2,3,basic,extra\ncus_c,1,2,3,basic\n").encode())
    assert [r[1][0] for r in rows] == ["cus_c"]
    assert rejects == [(2, "short row: 3 fields, header has 5", "cus_a,1,2"),
                       (3, "long row: 6 fields, header has 5", "cus_b,1,2,3,basic,extra")]


def test_bytes_that_are_not_utf8_reject_only_their_row():
    data = SAT_HEADER.encode() + b"cus_\xff\xfe,1,2,3,basic\ncus_b,1,2,3,b\xc3\xa1sic\n"
    rows, rejects, _ = read(SATISFACTION, data)
    assert rows == [(3, ["cus_b", "1", "2", "3", "básic"])]
    assert rejects == [(2, "bytes that are not UTF-8", "cus_\\xff\\xfe,1,2,3,basic")]


def test_a_quote_never_closed_rejects_its_line_and_reading_resumes_at_the_next():
    rows, rejects, reader = read(SATISFACTION, (SAT_HEADER + 'cus_a,1,2,3,basic\ncus_b,1,2,3,"basic\ncus_c,1,2,3,basic\n').encode())
    assert [r[1][0] for r in rows] == ["cus_a", "cus_c"]
    assert rejects == [(3, "malformed CSV: a quote not closed before the end of the file", 'cus_b,1,2,3,"basic')]
    assert reader.rows_read == 3 and reader.lines_read == 4


def test_a_quote_open_for_more_than_the_record_limit_swallows_no_rows():
    """Mid-file, followed by many good rows: a record may span at most MAX_RECORD_LINES lines."""
    good = "".join(f"cus_{i},1,2,3,basic\n" for i in range(MAX_RECORD_LINES + 50))
    rows, rejects, reader = read(SATISFACTION, (SAT_HEADER + 'cus_x,1,2,3,"basic\n' + good).encode(), chunk=4096)
    assert len(rows) == MAX_RECORD_LINES + 50 and rows[0][0] == 3
    assert rejects == [(2, f"malformed CSV: a quote not closed within {MAX_RECORD_LINES} lines or {MAX_LINE_BYTES} bytes",
                        'cus_x,1,2,3,"basic')]
    assert reader.rows_read == MAX_RECORD_LINES + 51


def test_a_line_longer_than_the_limit_is_one_reject_and_never_held_in_memory():
    """A 64 MiB line arrives in 1 MiB chunks: rejected with the start of its text, the next row loads,
    and reading it never holds more than about one chunk and the limit (no copy that grows with it)."""
    import tracemalloc

    def chunks():
        yield SAT_HEADER.encode() + b"cus_a,1,2,3,"
        for _ in range(64):
            yield b"x" * (1 << 20)
        yield b"\ncus_b,1,2,3,basic\n"

    tracemalloc.start()
    reader = RowReader(SATISFACTION, chunks(), "f.csv")
    rows = list(reader)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rows == [(3, ["cus_b", "1", "2", "3", "basic"])]
    [reject] = reader.rejects
    assert (reject.line, reject.reason) == (2, f"line longer than {MAX_LINE_BYTES} bytes")
    assert reject.raw == "cus_a,1,2,3," + "x" * (RAW_PREVIEW_BYTES - 12) + "..."
    assert peak < 6 * MAX_LINE_BYTES, peak


def test_a_long_line_inside_a_quoted_field_rejects_the_record():
    data = SAT_HEADER.encode() + b'cus_a,1,2,3,"basic\n' + b"x" * (MAX_LINE_BYTES + 10) + b'\nend"\ncus_b,1,2,3,basic\n'
    rows, rejects, _ = read(SATISFACTION, data, chunk=1 << 16)
    assert [r[1][0] for r in rows] == ["cus_b"]
    assert [(line, reason) for line, reason, _ in rejects] == [(2, f"line longer than {MAX_LINE_BYTES} bytes")]


def test_a_csv_error_mid_file_says_what_it_is_and_reading_resumes():
    rows, rejects, _ = read(SATISFACTION, (SAT_HEADER + 'cus_a,1,2,3,"ba\nsic"x\ncus_b,1,2,3,basic\n').encode())
    assert [r[1][0] for r in rows] == ["cus_b"]
    assert rejects == [(2, "malformed CSV: ',' expected after '\"'", 'cus_a,1,2,3,"ba'),
                       (3, "short row: 1 fields, header has 5", 'sic"x')]  # the next line, read on its own


def test_rejects_go_to_the_callback_as_they_are_found_and_are_not_kept():
    found = []
    data = (SAT_HEADER + "cus_a,11,2,3,basic\n" * 1000 + "cus_b,1,2,3,basic\n").encode()
    reader = RowReader(SATISFACTION, [data], "f.csv", on_reject=found.append)
    rows = list(reader)
    assert len(rows) == 1 and len(found) == reader.rows_rejected == 1000 and reader.rejects == []
    assert found[0].line == 2 and found[-1].line == 1001


def test_a_header_too_wide_for_postgresql_names_the_file():
    names = list(SATISFACTION.names) + [f"extra_{i}" for i in range(PG_MAX_COLUMNS)]
    with pytest.raises(ContractError, match=r"f.csv: line 1: 1600 columns the satisfaction contract does not know"):
        match_header(SATISFACTION, names, "f.csv")


def test_nul_bytes_reject_the_row():
    rows, rejects, _ = read(SATISFACTION, (SAT_HEADER + "cus_\x00a,1,2,3,basic\n").encode())
    assert rows == [] and rejects == [(2, "NUL byte in the row", "cus_\\x00a,1,2,3,basic")]  # storable in PostgreSQL


def test_blank_lines_are_not_rows():
    rows, rejects, reader = read(SATISFACTION, (SAT_HEADER + "\ncus_a,1,2,3,basic\n\n").encode())
    assert [line for line, _ in rows] == [3] and reader.rows_read == 1


def test_empty_and_header_only_files_have_no_rows():
    rows, rejects, reader = read(SATISFACTION, b"")
    assert rows == [] and reader.header is None and reader.rows_read == 0
    rows, rejects, reader = read(SATISFACTION, SAT_HEADER.encode())
    assert rows == [] and reader.header is not None and reader.rows_read == 0


def test_a_missing_required_column_names_the_file_and_the_column():
    with pytest.raises(ContractError, match=r"f\.csv: required column customer_satisfaction_speed missing"):
        read(SATISFACTION, b"customer_id,customer_satisfaction_product,customer_satisfaction_service,product_type\n")


def test_a_missing_optional_column_loads_as_null():
    rows, _, reader = read(CHARGE, charge_file(charge_row()))
    values = dict(zip(CHARGE.names, rows[0][1]))
    assert values["description"] is None and "description" in reader.header.absent


def test_a_duplicated_header_column_is_an_error():
    with pytest.raises(ContractError, match="'customer_id' appears twice"):
        match_header(SATISFACTION, ["customer_id", "Customer_ID"], "f.csv")


def test_the_generated_charges_satisfy_the_contract(tmp_path):
    import datetime as dt

    from include.finance.ingestion.mock_data import generate_mock_data

    files = generate_mock_data(tmp_path, dt.date(2026, 1, 1), customers=200, parts=1)
    for contract in (CHARGE, SATISFACTION):
        rows, rejects, reader = read(contract, files[contract.kind][0].read_bytes(), chunk=4096)
        assert rejects == [] and len(rows) == reader.rows_read > 0
        assert reader.header.absent == [] and reader.header.ignored == []
