"""`RowReader`: one CSV file read against its contract (`include/finance/contract.py`), row by row.

It yields the good rows with their line numbers, values in the contract's column order, ready for
Postgres `COPY ... CSV` (booleans as t/f, empty optional values as None = NULL), and reports every
rejected row with its line, the reason and its raw text. Bytes are decoded line by line, so a line
that is not UTF-8 rejects only its own row; the contract's limits keep a hostile file's cost linear.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from include.finance.contract import (
    MAX_LINE_BYTES,
    MAX_RECORD_LINES,
    PG_MAX_COLUMNS,
    RAW_PREVIEW_BYTES,
    BadValue,
    Contract,
    ContractError,
)

csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES + 1))  # Python's default is 128 KiB


class _QuoteNeverClosed(Exception):
    """A record's quoted field is still open after MAX_RECORD_LINES lines."""



@dataclass
class Reject:
    line: int  # 1-based line of the file where the row starts (line 1 is the header)
    reason: str
    raw: str  # the row as it stands in the file (bytes that are not UTF-8, and NUL, shown as \xNN)


@dataclass
class Header:
    positions: list[int | None]  # for each contract column: its index in the file, or None (absent)
    width: int  # fields per row
    ignored: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # optional contract columns the file lacks


def match_header(contract: Contract, names: list[str], file: str) -> Header:
    """Map the file's header to the contract's columns; raise ContractError if it cannot load."""
    cleaned = [n.strip().lower() for n in names]
    if not any(cleaned):
        raise ContractError(f"{file}: line 1: empty header, expected the columns {', '.join(contract.names)}")
    unknown = sum(1 for n in cleaned if n not in contract.names)
    room = PG_MAX_COLUMNS - len(contract.columns) - 3  # the day's partition: contract columns, ds, source_file/_line
    if unknown > room:
        raise ContractError(f"{file}: line 1: {unknown} columns the {contract.kind} contract does not know; at most "
                            f"{room} can be read past (PostgreSQL's limit of {PG_MAX_COLUMNS} columns per table)")
    seen = set()
    for name in cleaned:
        if name in seen and name in contract.names:
            raise ContractError(f"{file}: line 1: column {name!r} appears twice in the header")
        seen.add(name)
    missing = [n for n in contract.required if n not in cleaned]
    if missing:
        raise ContractError(
            f"{file}: required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"missing from the header (line 1); the {contract.kind} contract requires {', '.join(contract.required)}"
        )
    return Header(
        positions=[cleaned.index(n) if n in cleaned else None for n in contract.names],
        width=len(cleaned),
        ignored=[n for n in cleaned if n not in contract.names],
        absent=[n for n in contract.names if n not in cleaned],
    )


def decode_lines(chunks: Iterable[bytes], bad_lines: set[int], long_lines: dict[int, str]) -> Iterator[str]:
    """Split a byte stream into text lines (ends kept), in time linear in its size; a line that is not
    UTF-8 is decoded with \\xNN escapes and its 1-based number added to `bad_lines`; a line longer than
    MAX_LINE_BYTES is never held: its number goes into `long_lines` with the start of its text, and it is
    yielded as an empty field. A leading BOM is dropped."""
    number = 0
    parts: list[bytes] = []  # the line being read, when it spans chunks
    size = 0
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            piece = chunk[start:end + 1]
            if size + len(piece) > MAX_LINE_BYTES + 1:
                yield _long_line(b"".join(parts) + piece, number, long_lines)
            elif parts:
                yield _decode(b"".join(parts) + piece, number, bad_lines)
            else:
                yield _decode(piece, number, bad_lines)
            parts, size, start = [], 0, end + 1
        if start < len(chunk):
            if size <= MAX_LINE_BYTES:  # past the limit only the size is kept
                parts.append(chunk[start:] if start else chunk)
            size += len(chunk) - start
    if size:
        number += 1
        yield _long_line(b"".join(parts), number, long_lines) if size > MAX_LINE_BYTES else _decode(b"".join(parts), number, bad_lines)


def _long_line(start: bytes, number: int, long_lines: dict[int, str]) -> str:
    long_lines[number] = start[:RAW_PREVIEW_BYTES].decode("utf-8", errors="backslashreplace") + "..."
    return '""\n'


def _decode(line: bytes, number: int, bad_lines: set[int]) -> str:
    if number == 1 and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        bad_lines.add(number)
        return line.decode("utf-8", errors="backslashreplace")


class RowReader:
    """Read one CSV file against a contract.

    Iterate it for the good rows; afterwards `rejects`, `rows_read`, `header` describe the file.
    `header` is None for an empty file. Raises ContractError (before yielding any row) when the
    header does not satisfy the contract.
    """

    def __init__(self, contract: Contract, chunks: Iterable[bytes], file: str,
                 on_reject: Callable[[Reject], None] | None = None):
        self.contract = contract
        self.file = file
        self.rows_read = 0
        self.rows_rejected = 0
        self.rejects: list[Reject] = []  # kept here unless `on_reject` takes each one as it is found
        self._on_reject = on_reject or self.rejects.append
        self.header: Header | None = None
        self._bad_lines: set[int] = set()
        self._long_lines: dict[int, str] = {}
        self._raw: list[str] = []  # physical lines of the record being parsed
        self._raw_bytes = 0  # their length
        self._again: list[str] = []  # lines to read again (after a quote that never closed), last first
        self._decoded = decode_lines(chunks, self._bad_lines, self._long_lines)
        self._reader = csv.reader(self._remember(), strict=True)
        self._line = 0  # physical lines consumed so far

    def _remember(self) -> Iterator[str]:
        while True:
            line = self._again.pop() if self._again else next(self._decoded, None)
            if line is None:
                return
            self._raw.append(line)
            self._raw_bytes = self._raw_bytes + len(line) if len(self._raw) > 1 else len(line)
            if len(self._raw) > MAX_RECORD_LINES or (len(self._raw) > 1 and self._raw_bytes > MAX_LINE_BYTES):
                raise _QuoteNeverClosed()
            yield line

    def _next_record(self) -> tuple[int, list[str], str, str | None] | None:
        """(first line number, fields, raw text, parse error) of the next non-blank record, or None at the end."""
        while True:
            self._raw.clear()
            try:
                fields = next(self._reader)
                error = None
            except StopIteration:
                return None
            except (csv.Error, _QuoteNeverClosed) as exc:
                if isinstance(exc, _QuoteNeverClosed):
                    exc = f"a quote not closed within {MAX_RECORD_LINES} lines or {MAX_LINE_BYTES} bytes"
                elif "unexpected end of data" in str(exc):
                    exc = "a quote not closed before the end of the file"
                if len(self._raw) > 1:  # reject the first line, read on after it
                    self._again.extend(reversed(self._raw[1:]))
                    del self._raw[1:]
                fields, error = [], f"malformed CSV: {exc}"
                self._reader = csv.reader(self._remember(), strict=True)
            start = self._line + 1
            self._line += len(self._raw)
            raw = self._long_lines.get(start) or "".join(self._raw).rstrip("\r\n")
            if fields or error:
                return start, fields, raw, error

    @property
    def lines_read(self) -> int:
        """Physical lines consumed so far, the header's included."""
        return self._line

    def read_header(self) -> Header | None:
        record = self._next_record()
        if record is None:
            return None
        line, fields, _raw, error = record
        if line in self._long_lines:
            raise ContractError(f"{self.file}: line {line}: the header is longer than {MAX_LINE_BYTES} bytes")
        if error or line in self._bad_lines:
            raise ContractError(f"{self.file}: line {line}: the header is not valid UTF-8 CSV ({error or 'bad bytes'})")
        self.header = match_header(self.contract, fields, self.file)
        return self.header

    def __iter__(self) -> Iterator[tuple[int, list[str | None]]]:
        """(line number, values in contract column order) of each good row."""
        header = self.header or self.read_header()
        if header is None:
            return
        columns = self.contract.columns
        plan = list(zip(header.positions, columns))
        while (record := self._next_record()) is not None:
            line, fields, raw, error = record
            self.rows_read += 1
            if error is None:
                error = self._problem(line, fields, raw, header)
            if error is None:
                row: list[str | None] = []
                for position, column in plan:
                    value = fields[position] if position is not None else ""
                    if column.missing(value):
                        if column.required:
                            error = f"missing {column.name}"
                            break
                        row.append(None)
                        continue
                    try:
                        row.append(column.check(value))
                    except BadValue as exc:
                        error = f"{column.name}: {exc}"
                        break
                if error is None:
                    yield line, row
                    continue
            self.rows_rejected += 1
            self._on_reject(Reject(line, error, raw.replace("\x00", "\\x00")))  # PostgreSQL text holds no NUL

    def _problem(self, line: int, fields: list[str], raw: str, header: Header) -> str | None:
        lines = range(line, line + raw.count("\n") + 1)  # a record's physical lines
        if any(n in self._long_lines for n in lines):
            return f"line longer than {MAX_LINE_BYTES} bytes"
        if any(n in self._bad_lines for n in lines):
            return "bytes that are not UTF-8"
        if "\x00" in raw:
            return "NUL byte in the row"
        if len(fields) != header.width:
            return f"{'short' if len(fields) < header.width else 'long'} row: {len(fields)} fields, header has {header.width}"
        return None