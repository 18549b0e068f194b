"""The demo ILS's SQLite schema, PIN hashing, and its deterministic demo data.

The same seed always gives the same patrons, items, loans and holds (PIN salts included),
so tests and demos can name barcodes. Known demo records are listed in :data:`DEMO_PATRONS`
and :data:`DEMO_ITEMS`. This module does not speak SIP2.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from hardware_sim.errors import IlsDataError

HOME_ISIL = "VN-HN0001"
OTHER_ISIL = "VN-HCM0002"
INSTITUTION = "VNLIB"
LOCATION = "MAIN"
BRANCH = "BRANCH2"
LOGIN_USER = "kiosk01"
LOGIN_PASSWORD = "s3cret"
CURRENCY = "VND"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patrons (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, pin_hash TEXT NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0, block_reason TEXT,
    fines INTEGER NOT NULL DEFAULT 0, loan_limit INTEGER NOT NULL DEFAULT 10,
    expires TEXT NOT NULL, email TEXT, phone TEXT, home_location TEXT NOT NULL DEFAULT 'MAIN');
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, author TEXT NOT NULL, owner_isil TEXT NOT NULL,
    location TEXT NOT NULL, media_type TEXT NOT NULL, parts INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL, call_number TEXT, properties TEXT);
CREATE TABLE IF NOT EXISTS loans (
    item_id TEXT PRIMARY KEY, patron_id TEXT NOT NULL, loaned_at TEXT NOT NULL,
    due_at TEXT NOT NULL, renewals INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS loans_patron ON loans(patron_id);
CREATE TABLE IF NOT EXISTS holds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL, patron_id TEXT NOT NULL,
    placed_at TEXT NOT NULL, pickup_location TEXT NOT NULL, expires_at TEXT NOT NULL,
    state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS holds_item ON holds(item_id, state);
CREATE TABLE IF NOT EXISTS fines (
    id INTEGER PRIMARY KEY AUTOINCREMENT, patron_id TEXT NOT NULL, item_id TEXT,
    amount INTEGER NOT NULL, reason TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, patron_id TEXT, item_id TEXT,
    transaction_date TEXT, xk TEXT, no_block INTEGER NOT NULL, duplicate INTEGER NOT NULL,
    applied_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS applications_xk ON applications(xk);
CREATE INDEX IF NOT EXISTS applications_key ON applications(kind, patron_id, item_id, transaction_date);
"""

# ---- PIN hashing -----------------------------------------------------------------------

PIN_COST = 2 ** 14
"""scrypt cost for PINs set at run time (about 40 ms per hash)."""

DEMO_PIN_COST = 2 ** 10
"""scrypt cost for the bulk generated patrons, so that the demo database builds quickly."""


def hash_pin(pin: str, salt: bytes, n: int = PIN_COST) -> str:
    """A salted, slow hash of a PIN: ``scrypt$n$r$p$salt$hash`` (hex)."""
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=8, p=1, dklen=32)
    return f"scrypt${n}$8$1${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches a hash made by :func:`hash_pin` (constant-time compare)."""
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(pin.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


# ---- demo data -------------------------------------------------------------------------

@dataclass(frozen=True)
class DemoPatron:
    """A known demo patron (its PIN is printed by ``smartlib sim ils serve``)."""

    id: str
    name: str
    pin: str
    note: str


DEMO_PATRONS: tuple[DemoPatron, ...] = (
    DemoPatron("2000001", "Nguyễn Văn An", "1234", "in good standing; has loans, overdue ones too"),
    DemoPatron("2000002", "Trần Thị Bình", "2345", "blocked: card reported lost"),
    DemoPatron("2000003", "John Smith", "3456", "owes 75,000 VND in fines (over the limit)"),
    DemoPatron("2000004", "Lê Minh Châu", "4567", "in good standing; has holds waiting"),
    DemoPatron("2000005", "Emily Brown", "5678", "in good standing; at her loan limit of 7"),
    DemoPatron("2000006", "Phạm Quốc Dũng", "6789", "card expired"),
)

DEMO_ITEMS = {
    "available": ("30000100", "30000101", "30000102"),
    "on_hold_loaned": ("30000010", "30000011", "30000012", "30000013", "30000014"),
    "on_hold_shelf_ready": ("30000015", "30000016", "30000017", "30000018", "30000019"),
    "multi_part": tuple(f"300000{n}" for n in range(20, 30)),
    "other_library": tuple(f"300000{n}" for n in range(30, 50)),
    "other_library_loaned": ("30000030", "30000031", "30000032"),
    "lost": ("30000050", "30000051", "30000052"),
    "missing": ("30000053", "30000054", "30000055"),
    "overdue": ("30000060", "30000061", "30000062", "30000063", "30000064"),
}
"""Item barcodes with known situations."""

DEMO_FINES: tuple[tuple[str, str | None, int, str, int], ...] = (
    ("2000003", "30000070", 50000, "Overdue 10 days", 12),
    ("2000003", None, 25000, "Replacement library card", 40),
)
"""The demo patrons' itemised fines: (patron, item or None, amount in VND, reason, days ago).
Their sum is the patron's ``fines`` total (2000003: 75,000 VND)."""

FIRST_ITEM = 30000001
FIRST_PATRON = 2000001

_VN_FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
              "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
_VN_MIDDLE = ("Văn", "Thị", "Minh", "Quốc", "Thu", "Hồng", "Đức", "Thanh", "Ngọc", "Gia", "Bảo")
_VN_GIVEN = ("An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng",
             "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phong", "Phúc",
             "Quang", "Sơn", "Tâm", "Thảo", "Trang", "Trung", "Tuấn", "Vy", "Yến", "Đạt", "Ánh")
_EN_GIVEN = ("James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
             "David", "Elizabeth", "William", "Susan", "Richard", "Jessica", "Thomas", "Sarah",
             "Daniel", "Karen", "Emily", "Oliver", "Sophie", "Henry", "Grace", "Jack")
_EN_FAMILY = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
              "Taylor", "Clark", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green",
              "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts")
_VN_CLASSICS = (("Truyện Kiều", "Nguyễn Du"), ("Số đỏ", "Vũ Trọng Phụng"),
                ("Dế Mèn phiêu lưu ký", "Tô Hoài"), ("Tắt đèn", "Ngô Tất Tố"),
                ("Chí Phèo", "Nam Cao"), ("Nỗi buồn chiến tranh", "Bảo Ninh"),
                ("Mắt biếc", "Nguyễn Nhật Ánh"), ("Tôi thấy hoa vàng trên cỏ xanh", "Nguyễn Nhật Ánh"),
                ("Vợ nhặt", "Kim Lân"), ("Thơ Xuân Diệu", "Xuân Diệu"),
                ("Thơ Hồ Xuân Hương", "Hồ Xuân Hương"), ("Đất rừng phương Nam", "Đoàn Giỏi"),
                ("Lịch sử Việt Nam", "Trần Trọng Kim"), ("Việt Nam sử lược", "Trần Trọng Kim"))
_VN_SUBJECTS = ("Lịch sử Việt Nam", "Văn học dân gian", "Truyện ngắn", "Thơ ca", "Địa lý",
                "Kinh tế học", "Toán học", "Vật lý", "Hóa học", "Sinh học", "Tiếng Anh", "Tin học",
                "Âm nhạc", "Mỹ thuật", "Triết học", "Tâm lý học", "Nấu ăn", "Du lịch Việt Nam",
                "Khoa học tự nhiên", "Y học cổ truyền", "Văn hóa Huế", "Ẩm thực Hà Nội")
_VN_QUALIFIERS = ("cơ bản", "nâng cao", "cho thiếu nhi", "hiện đại", "thế kỷ XX", "qua các thời kỳ",
                  "nhập môn", "thực hành", "toàn tập", "cho mọi người", "và đời sống")
_EN_SUBJECTS = ("History", "Mathematics", "Physics", "Chemistry", "Biology", "Economics",
                "Philosophy", "Psychology", "Music", "Art", "Computer Science", "Vietnam",
                "Southeast Asia", "Cooking", "Gardening", "Astronomy", "Poetry", "Linguistics")
_EN_PATTERNS = ("A Short History of {s}", "Introduction to {s}", "{s} for Beginners",
                "Advanced {s}", "The Story of {s}", "Essays on {s}", "{s}: A Very Short Introduction",
                "Understanding {s}", "The Handbook of {s}")
_EN_NOVELS = ("The Quiet American", "The Sympathizer", "Pride and Prejudice", "Moby-Dick",
              "The Old Man and the Sea", "Great Expectations", "Jane Eyre", "Little Women")

# media type -> (share of the collection, parts range)
_MEDIA = (("001", 70), ("002", 8), ("003", 4), ("006", 8), ("005", 3), ("009", 4), ("010", 3))


def _vn_name(rng: random.Random) -> str:
    return f"{rng.choice(_VN_FAMILY)} {rng.choice(_VN_MIDDLE)} {rng.choice(_VN_GIVEN)}"


def _en_name(rng: random.Random) -> str:
    return f"{rng.choice(_EN_GIVEN)} {rng.choice(_EN_FAMILY)}"


def _title(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 0.10:
        title, author = rng.choice(_VN_CLASSICS)
        return (title if rng.random() < 0.5 else f"{title} (tái bản lần {rng.randint(2, 12)})"), author
    if r < 0.55:
        return f"{rng.choice(_VN_SUBJECTS)} {rng.choice(_VN_QUALIFIERS)}", _vn_name(rng)
    if r < 0.62:
        return rng.choice(_EN_NOVELS), _en_name(rng)
    return rng.choice(_EN_PATTERNS).format(s=rng.choice(_EN_SUBJECTS)), _en_name(rng)


def _iso(t: dt.datetime) -> str:
    return t.replace(microsecond=0).isoformat()


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (and create the schema of) a demo ILS database."""
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    return db


def is_populated(db: sqlite3.Connection) -> bool:
    """Whether the database already holds demo data."""
    return db.execute("SELECT value FROM meta WHERE key='seed'").fetchone() is not None


def populate(db: sqlite3.Connection, *, seed: int = 7, items: int = 5200, patrons: int = 520,
             now: dt.datetime | None = None) -> None:
    """Fill an empty database with deterministic demo data.

    Args:
        db: a connection from :func:`connect`.
        seed: the random seed (same seed, same data).
        items: how many items (at least 200).
        patrons: how many patrons (at least 100).
        now: the reference time for due dates and expiry (default: now, rounded to the day).

    Raises:
        IlsDataError: the database already holds data, or the sizes are too small.
    """
    if is_populated(db):
        raise IlsDataError("the demo ILS database already holds data")
    if items < 200 or patrons < 100:
        raise IlsDataError("the demo data needs at least 200 items and 100 patrons")
    rng = random.Random(seed)
    base = (now or dt.datetime.now()).replace(hour=10, minute=0, second=0, microsecond=0)
    expires_ok = _iso(base + dt.timedelta(days=365 * 2))
    rows_p = []
    for dp in DEMO_PATRONS:
        blocked = 1 if dp.id == "2000002" else 0
        fines = 75000 if dp.id == "2000003" else 0
        limit = 7 if dp.id == "2000005" else 10
        expires = _iso(base - dt.timedelta(days=30)) if dp.id == "2000006" else expires_ok
        rows_p.append((dp.id, dp.name, hash_pin(dp.pin, rng.randbytes(16), DEMO_PIN_COST), blocked,
                       "Card reported lost" if blocked else None, fines, limit, expires,
                       f"patron{dp.id}@example.org", f"09{dp.id}", LOCATION))
    for n in range(FIRST_PATRON + len(DEMO_PATRONS), FIRST_PATRON + patrons):
        pid = str(n)
        name = _vn_name(rng) if rng.random() < 0.8 else _en_name(rng)
        pin = f"{rng.randint(0, 9999):04d}"
        blocked = 1 if rng.random() < 0.02 else 0
        fines = rng.choice((0, 0, 0, 0, 0, 0, 5000, 10000, 20000, 60000))
        rows_p.append((pid, name, hash_pin(pin, rng.randbytes(16), DEMO_PIN_COST), blocked,
                       "Blocked by staff" if blocked else None, fines, rng.choice((5, 10, 10, 15)),
                       _iso(base + dt.timedelta(days=rng.randint(-60, 900))),
                       f"patron{pid}@example.org", f"09{pid}", rng.choice((LOCATION, BRANCH))))
    db.execute("BEGIN")
    db.executemany("INSERT INTO patrons VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows_p)
    rows_i, loans, holds = [], [], []
    media_codes = [m for m, _w in _MEDIA]
    media_weights = [w for _m, w in _MEDIA]
    general_patrons = [str(n) for n in range(FIRST_PATRON + 10, FIRST_PATRON + patrons)]
    for n in range(FIRST_ITEM, FIRST_ITEM + items):
        iid = str(n)
        title, author = _title(rng)
        media = rng.choices(media_codes, media_weights)[0]
        parts = rng.randint(2, 3) if media in ("009", "010") else 1
        owner, status, location = HOME_ISIL, "available", LOCATION
        if iid in DEMO_ITEMS["multi_part"]:
            media, parts = ("010" if n % 2 else "006"), 2 + n % 2
        if iid in DEMO_ITEMS["other_library"]:
            owner = OTHER_ISIL
        if iid in DEMO_ITEMS["lost"]:
            status = "lost"
        elif iid in DEMO_ITEMS["missing"]:
            status = "missing"
        call = f"{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d} {author.split()[0][:3].upper()}"
        rows_i.append([iid, title, author, owner, location, media, parts, status, call, None])
        loaned_to: str | None = None
        due = base + dt.timedelta(days=rng.randint(1, 21))
        if iid in DEMO_ITEMS["on_hold_loaned"] or iid in (f"3000006{k}" for k in range(5, 7)):
            loaned_to = "2000005"
        elif iid in DEMO_ITEMS["other_library_loaned"]:
            loaned_to = "2000001"
        elif iid in DEMO_ITEMS["overdue"]:
            loaned_to, due = "2000001", base - dt.timedelta(days=3 + n % 5)
        elif n >= FIRST_ITEM + 200 and status == "available" and rng.random() < 0.12:
            loaned_to = rng.choice(general_patrons)
            if rng.random() < 0.15:
                due = base - dt.timedelta(days=rng.randint(1, 40))
        if loaned_to:
            rows_i[-1][7] = "loaned"
            loans.append((iid, loaned_to, _iso(due - dt.timedelta(days=21)), _iso(due), 0))
        if iid in DEMO_ITEMS["on_hold_shelf_ready"]:
            # On the hold shelf for 2000004 (ready; kept a week), queued after it for others.
            rows_i[-1][7] = "hold_shelf"
            holds.append((iid, "2000004", _iso(base - dt.timedelta(days=2)), LOCATION,
                          _iso(base + dt.timedelta(days=7)), "shelf"))
        elif iid in DEMO_ITEMS["on_hold_loaned"]:
            holds.append((iid, "2000004", _iso(base - dt.timedelta(days=2)), LOCATION,
                          _iso(base + dt.timedelta(days=30)), "queued"))
        if iid in DEMO_ITEMS["on_hold_loaned"] or iid in DEMO_ITEMS["on_hold_shelf_ready"]:
            if iid in ("30000010", "30000015"):
                holds.append((iid, "2000001", _iso(base - dt.timedelta(days=1)), BRANCH,
                              _iso(base + dt.timedelta(days=30)), "queued"))
        elif n >= FIRST_ITEM + 200 and rng.random() < 0.02:
            holds.append((iid, rng.choice(general_patrons), _iso(base - dt.timedelta(days=1)),
                          rng.choice((LOCATION, BRANCH)), _iso(base + dt.timedelta(days=30)),
                          "queued"))
    db.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?)", [tuple(r) for r in rows_i])
    db.executemany("INSERT INTO loans VALUES (?,?,?,?,?)", loans)
    db.executemany("INSERT INTO holds (item_id, patron_id, placed_at, pickup_location, "
                   "expires_at, state) VALUES (?,?,?,?,?,?)", holds)
    db.executemany("INSERT INTO fines (patron_id, item_id, amount, reason, created_at) "
                   "VALUES (?,?,?,?,?)",
                   [(pid, item, amount, reason, _iso(base - dt.timedelta(days=age)))
                    for pid, item, amount, reason, age in DEMO_FINES])
    db.executemany("INSERT INTO meta VALUES (?,?)", [("seed", str(seed)), ("built", _iso(base))])
    db.execute("COMMIT")


def open_demo_db(path: str | Path, *, seed: int = 7) -> sqlite3.Connection:
    """Open the database at ``path``, filling it with demo data if it is empty."""
    db = connect(path)
    if not is_populated(db):
        populate(db, seed=seed)
    return db
