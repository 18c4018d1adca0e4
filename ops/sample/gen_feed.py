#!/usr/bin/python3
"""gen_feed.py: writes the sample twinning feed (ops/sample/feed.jsonl).

Deterministic: the same --seed and --events give the same bytes. Standard library only.
It reads agencies.csv and localities.csv (next to this script unless given) and refuses to
write a line naming a code they do not hold. Every event it writes is valid under
docs/projection-rules.md when the feed is loaded into an empty state with "now" on or after
2026-11-25 (the story's present is 2026-11-26).

    /usr/bin/python3 ops/sample/gen_feed.py --out ops/sample/feed.jsonl [--seed N] [--events N]

The storylines (which agency, which commune) are fixed; the seed varies dates, amounts, the
mix of outcomes and which pledges arrive late. A summary of the storylines goes to stderr.
"""
import argparse
import calendar
import csv
import json
import os
import random
import sys
import uuid
from datetime import date, datetime, timedelta, timezone

NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:twinwatch:event")
LOCAL = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh, no daylight saving
FIRST = date(2021, 10, 1)   # first signing
LAST = date(2026, 11, 20)   # last day of twinning activity in the feed
TODAY = date(2026, 11, 26)  # the story's present
HB_LAST = date(2026, 11, 25)  # heartbeats run up to here; nothing occurs later
PARKED_TARGET = 10          # deliveries/trainings that arrive before their SupportPledged

HERE = os.path.dirname(os.path.abspath(__file__))


def ms_at(d, h=9, m=0, s=0):
    return int(datetime(d.year, d.month, d.day, h, m, s, tzinfo=LOCAL).timestamp() * 1000)


def local_date(ms):
    return datetime.fromtimestamp(ms / 1000, LOCAL).date()


def add_months(d, n):
    y, m = divmod(d.month - 1 + n, 12)
    y, m = d.year + y, m + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def quarter_end(d):
    m = (d.month - 1) // 3 * 3 + 3
    return date(d.year, m, calendar.monthrange(d.year, m)[1])


REC_CAP = ms_at(HB_LAST, 20, 0)  # nothing is recorded after this

# ---- who is who -----------------------------------------------------------------------------

# agency -> (source system, home ward for heartbeats, feed style, short name for documents)
# style "erp": the agency's system publishes within hours; "export": a clerk hands over an
# export some days later.
AGENCY_META = {
    "PETROLIMEX-QNA": ("petrolimex-erp", "20347", "erp", "PLX-QNA"),
    "EVNCPC-QNA": ("pcqnam-erp", "20341", "erp", "PCQNAM"),
    "VCB-QNA": ("vcb-qna-csr", "20347", "erp", "VCB-QNA"),
    "AGRIBANK-QNA": ("agribank-qna-csr", "20335", "erp", "AGR-QNA"),
    "BIDV-QNA": ("bidv-qna-csr", "20341", "erp", "BIDV-QNA"),
    "VNPT-QNA": ("vnpt-qna-eoffice", "20335", "erp", "VNPT-QNA"),
    "VIETTEL-QNA": ("viettel-qna-erp", "20335", "erp", "VTQNA"),
    "SO-NNPTNT": ("snnptnt-qlvb", "20341", "erp", "SNN"),
    "SO-LDTBXH": ("sldtbxh-qlvb", "20341", "erp", "SLĐTBXH"),
    "SO-GDDT": ("sgddt-export", "20335", "export", "SGDĐT"),
    "SO-YTE": ("syt-export", "20341", "export", "SYT"),
    "SO-TAICHINH": ("stc-export", "20341", "export", "STC"),
    "BAN-DANTOC": ("bdt-export", "20341", "export", "BDT"),
    "SO-KHDT": ("skhdt-export", "20341", "export", "SKHĐT"),
    "SO-GTVT": ("sgtvt-export", "20335", "export", "SGTVT"),
    "SO-CONGTHUONG": ("sct-export", "20341", "export", "SCT"),
    "SO-XAYDUNG": ("sxd-qlvb", "20341", "erp", "SXD"),
    "SO-TNMT": ("stnmt-export", "20341", "export", "STNMT"),
    "SO-VHTTDL": ("svhttdl-export", "20335", "export", "SVHTTDL"),
    "SO-TTTT": ("stttt-export", "20341", "export", "STTTT"),
    "SO-KHCN": ("skhcn-export", "20341", "export", "SKHCN"),
    "SO-NOIVU": ("snv-export", "20341", "export", "SNV"),
    "SO-TUPHAP": ("stp-export", "20341", "export", "STP"),
    "TP-TAMKY": ("tamky-egov", "20335", "export", "UBND-TK"),
    "TX-DIENBAN": ("dienban-egov", "20551", "export", "UBND-ĐB"),
    "TP-HOIAN": ("hoian-egov", "20398", "export", "UBND-HA"),
    "BCHQS-TINH": ("bchqs-export", "20347", "export", "BCHQS"),
    "BDBP-TINH": ("bdbp-export", "20347", "export", "BĐBP"),
    "CONGAN-TINH": ("cat-export", "20341", "export", "CAT"),
    "HND-TINH": ("hnd-export", "20341", "export", "HND"),
    "TINH-DOAN": ("tinhdoan-export", "20341", "export", "TĐ"),
    "HLHPN-TINH": ("hlhpn-export", "20341", "export", "HLHPN"),
    "MTTQ-TINH": ("mttq-export", "20341", "export", "MTTQ"),
    "HOI-CCB": ("hccb-export", "20341", "export", "HCCB"),
}

# Sources that send FeedHeartbeat, and when their heartbeats stop (None: still alive).
HEARTBEATS = {
    "PETROLIMEX-QNA": None, "EVNCPC-QNA": None, "VCB-QNA": None, "AGRIBANK-QNA": None,
    "BIDV-QNA": None, "VNPT-QNA": None, "VIETTEL-QNA": None, "SO-NNPTNT": None,
    "SO-LDTBXH": None, "SO-XAYDUNG": "dormant",  # stops with its dormant twinning
}

# (agency, commune, profile). Profiles: fixed (hand-written below), substantive, mixed,
# formal (visits and gifts only), dormant (nothing after mid-2025), ended (twinningEnded).
TWINNINGS = [
    ("PETROLIMEX-QNA", "20705", "fixed"),        # Đắc Tôi, Nam Giang
    ("EVNCPC-QNA", "20719", "substantive"),      # Đắc Pring
    ("EVNCPC-QNA", "20935", "substantive"),      # Trà Leng
    ("VCB-QNA", "20443", "substantive"),         # A Xan
    ("AGRIBANK-QNA", "20917", "substantive"),    # Trà Bui
    ("AGRIBANK-QNA", "20692", "mixed"),          # Quế Lâm
    ("BIDV-QNA", "20947", "substantive"),        # Trà Cang
    ("VNPT-QNA", "20446", "substantive"),        # Tr'hy
    ("VNPT-QNA", "20710", "ended"),              # Tà Bhinh
    ("VIETTEL-QNA", "20440", "substantive"),     # Ga Ri
    ("VIETTEL-QNA", "20953", "substantive"),     # Trà Nam
    ("SO-NNPTNT", "20926", "substantive"),       # Trà Giác
    ("SO-NNPTNT", "20488", "substantive"),       # A Rooi
    ("SO-LDTBXH", "20941", "substantive"),       # Trà Tập
    ("SO-LDTBXH", "20699", "substantive"),       # Chơ Chun
    ("SO-GDDT", "20458", "substantive"),         # Bhalêê
    ("SO-YTE", "20698", "substantive"),          # La Êê
    ("SO-TAICHINH", "20962", "formal"),          # Trà Vinh
    ("BAN-DANTOC", "20938", "substantive"),      # Trà Dơn
    ("BAN-DANTOC", "20464", "mixed"),            # Dang
    ("SO-KHDT", "20737", "substantive"),         # Phước Mỹ
    ("SO-GTVT", "20497", "mixed"),               # Ka Dăng
    ("SO-CONGTHUONG", "20752", "ended"),         # Phước Thành
    ("SO-XAYDUNG", "20740", "dormant"),          # Phước Chánh
    ("SO-TNMT", "20776", "formal"),              # Phước Gia
    ("SO-VHTTDL", "20449", "substantive"),       # Lăng
    ("SO-VHTTDL", "20671", "mixed"),             # Quế Lộc (with Sơn Viên since 2025-01-01)
    ("SO-TTTT", "20929", "substantive"),         # Trà Giáp
    ("SO-KHCN", "20746", "substantive"),         # Phước Kim (Trà Linh is in feed-sample.csv)
    ("SO-NOIVU", "20869", "mixed"),              # Tiên Lãnh
    ("SO-TUPHAP", "20890", "mixed"),             # Tiên An
    ("TP-TAMKY", "20773", "substantive"),        # Phước Trà
    ("TP-TAMKY", "20872", "substantive"),        # Tiên Ngọc
    ("TX-DIENBAN", "20494", "substantive"),      # Mà Cooih
    ("TX-DIENBAN", "20491", "dormant"),          # Za Hung
    ("TP-HOIAN", "20455", "formal"),             # A Tiêng
    ("TP-HOIAN", "20959", "formal"),             # Trà Vân
    ("BCHQS-TINH", "20716", "substantive"),      # Đắc Pre
    ("BCHQS-TINH", "20932", "substantive"),      # Trà Ka
    ("BDBP-TINH", "20704", "substantive"),       # La Dêê
    ("BDBP-TINH", "20437", "substantive"),       # Ch'ơm
    ("CONGAN-TINH", "20701", "substantive"),     # Zuôih
    ("CONGAN-TINH", "20707", "substantive"),     # Chà Vàl: with Zuôih, xã Nam Giang from 2025-07
    ("BIDV-QNA", "20695", "mixed"),              # thị trấn Thạnh Mỹ, xã Thạnh Mỹ from 2025-07
    ("HND-TINH", "20770", "substantive"),        # Sông Trà
    ("HND-TINH", "20669", "substantive"),        # Phước Ninh
    ("TINH-DOAN", "20920", "substantive"),       # Trà Đốc
    ("TINH-DOAN", "20476", "substantive"),       # Jơ Ngây
    ("HLHPN-TINH", "20902", "substantive"),      # Trà Kót
    ("HLHPN-TINH", "20875", "mixed"),            # Tiên Hiệp
    ("MTTQ-TINH", "20731", "formal"),            # Phước Đức
    ("HOI-CCB", "20482", "mixed"),               # Tư
]

# dormant: last activity window; ended: the day of twinningEnded and its reason
DORMANT_UNTIL = {("SO-XAYDUNG", "20740"): (date(2025, 3, 1), date(2025, 4, 30)),
                 ("TX-DIENBAN", "20491"): (date(2025, 5, 1), date(2025, 6, 20))}
ENDED = {
    ("SO-CONGTHUONG", "20752"): (date(2024, 12, 27),
                                 "Ban Thường vụ Tỉnh ủy phân công lại đơn vị kết nghĩa; "
                                 "Sở Công Thương chuyển sang hỗ trợ xã Phước Lộc từ năm 2025"),
    ("VNPT-QNA", "20710"): (date(2025, 6, 27),
                            "Tổng kết chương trình kết nghĩa giai đoạn 2021–2025; các cam kết "
                            "đã hoàn thành hoặc được hủy, bàn giao cho Huyện ủy Nam Giang theo dõi"),
}

# Category weights per agency (the rest get the default mix).
DEFAULT_MIX = {"ECONOMIC_MODEL": 14, "MODEL_REPLICATION": 8, "INFRASTRUCTURE": 6, "HOUSING": 8,
               "LIVELIHOOD_GOODS": 7, "CADRE_TRAINING": 7, "VOCATIONAL_TRAINING": 7,
               "JOB_CREATION": 5, "SOCIAL_SECURITY": 6, "OTHER": 3}
MIX_BOOST = {
    "SO-NNPTNT": {"ECONOMIC_MODEL": 14, "MODEL_REPLICATION": 12, "VOCATIONAL_TRAINING": 6},
    "SO-LDTBXH": {"VOCATIONAL_TRAINING": 20, "JOB_CREATION": 16, "SOCIAL_SECURITY": 6},
    "SO-GDDT": {"SOCIAL_SECURITY": 14, "OTHER": 10, "INFRASTRUCTURE": 6, "CADRE_TRAINING": 6},
    "SO-YTE": {"OTHER": 12, "SOCIAL_SECURITY": 10, "CADRE_TRAINING": 8},
    "EVNCPC-QNA": {"INFRASTRUCTURE": 14, "HOUSING": 6},
    "VNPT-QNA": {"OTHER": 10, "CADRE_TRAINING": 12},
    "VIETTEL-QNA": {"OTHER": 10, "CADRE_TRAINING": 10, "JOB_CREATION": 4},
    "SO-TTTT": {"CADRE_TRAINING": 14, "OTHER": 8},
    "VCB-QNA": {"HOUSING": 12, "INFRASTRUCTURE": 8, "SOCIAL_SECURITY": 6},
    "AGRIBANK-QNA": {"HOUSING": 10, "ECONOMIC_MODEL": 8},
    "BIDV-QNA": {"HOUSING": 10, "INFRASTRUCTURE": 10},
    "BAN-DANTOC": {"CADRE_TRAINING": 10, "ECONOMIC_MODEL": 8},
    "SO-KHCN": {"ECONOMIC_MODEL": 12, "MODEL_REPLICATION": 10, "VOCATIONAL_TRAINING": 6},
    "SO-KHDT": {"CADRE_TRAINING": 10, "INFRASTRUCTURE": 6},
    "SO-XAYDUNG": {"HOUSING": 14, "INFRASTRUCTURE": 10},
    "SO-GTVT": {"INFRASTRUCTURE": 16},
    "SO-VHTTDL": {"ECONOMIC_MODEL": 8, "VOCATIONAL_TRAINING": 8},
    "BCHQS-TINH": {"HOUSING": 12, "INFRASTRUCTURE": 6},
    "BDBP-TINH": {"HOUSING": 10, "SOCIAL_SECURITY": 8, "ECONOMIC_MODEL": 6},
    "CONGAN-TINH": {"HOUSING": 8, "SOCIAL_SECURITY": 8},
    "HND-TINH": {"ECONOMIC_MODEL": 14, "MODEL_REPLICATION": 12, "VOCATIONAL_TRAINING": 6},
    "TINH-DOAN": {"VOCATIONAL_TRAINING": 14, "JOB_CREATION": 10, "CADRE_TRAINING": 4},
    "HLHPN-TINH": {"ECONOMIC_MODEL": 10, "LIVELIHOOD_GOODS": 8, "VOCATIONAL_TRAINING": 8},
}
MIXED_MIX = {"LIVELIHOOD_GOODS": 14, "SOCIAL_SECURITY": 12, "HOUSING": 8, "ECONOMIC_MODEL": 6,
             "CADRE_TRAINING": 3, "OTHER": 4}

# What each district grows, raises or weaves: names the economic models and training topics.
THEMES = {
    "510": ["nuôi heo đen bản địa", "trồng ba kích tím dưới tán rừng", "trồng đảng sâm",
            "nuôi bò sinh sản", "nuôi gà thả vườn", "dệt thổ cẩm Cơ Tu"],
    "504": ["trồng đảng sâm", "trồng ba kích tím dưới tán rừng", "nuôi heo đen bản địa",
            "du lịch cộng đồng gắn với rừng pơ mu", "nuôi dê", "trồng lúa nước ruộng bậc thang"],
    "505": ["trồng ba kích tím", "nuôi heo đen bản địa", "dệt thổ cẩm Cơ Tu",
            "du lịch cộng đồng", "trồng chè dây", "nuôi gà thả vườn"],
    "511": ["nuôi gà thả vườn", "trồng sa nhân tím", "nuôi bò sinh sản", "trồng chuối mốc",
            "nuôi cá nước ngọt", "trồng quế"],
    "512": ["nuôi bò sinh sản", "trồng quế", "trồng keo gỗ lớn", "trồng rau an toàn",
            "nuôi ong lấy mật"],
    "514": ["trồng tiêu", "trồng bưởi", "trồng thanh trà", "nuôi ong lấy mật", "nuôi bò sinh sản"],
    "515": ["trồng quế Trà My", "nuôi heo đen bản địa", "trồng sâm Ngọc Linh",
            "trồng dược liệu dưới tán rừng", "nuôi bò sinh sản"],
    "516": ["trồng sâm Ngọc Linh", "trồng quế Trà My", "nuôi heo đen bản địa",
            "trồng đương quy", "trồng dược liệu dưới tán rừng"],
    "509": ["trồng bưởi", "trồng mít Thái", "nuôi bò sinh sản", "trồng rau an toàn",
            "du lịch sinh thái cộng đồng"],
}
VILLAGES = ["thôn 1", "thôn 2", "thôn 3", "thôn 4", "thôn 5", "thôn 6"]
INFRA = ["Đường bê tông nông thôn {v}", "Cầu treo dân sinh {v}", "Nhà văn hóa {v}",
         "Công trình nước sinh hoạt tập trung {v}", "Phòng học điểm trường {v}",
         "Kè chống sạt lở khu dân cư {v}", "Điện chiếu sáng đường vào {v}"]
LIVELIHOOD = ["Bò giống sinh sản", "Máy cày mini, máy tuốt lúa", "Giống lúa, phân bón",
              "Máy phát cỏ, máy xay xát", "Lưới B40 làm chuồng trại", "Heo giống, thức ăn chăn nuôi"]
SOCIAL = [("suất học bổng", "Học bổng cho học sinh nghèo vượt khó"),
          ("thẻ BHYT", "Mua thẻ bảo hiểm y tế cho người cận nghèo"),
          ("hộ", "Hỗ trợ hộ nghèo, gia đình chính sách"),
          ("suất", "Bò, heo giống cho hộ nghèo đơn thân nuôi con nhỏ")]
OTHER_ITEMS = [("bộ", "Máy tính, máy in cho trường và UBND xã"),
               ("bộ", "Trang thiết bị cho Trạm Y tế xã"),
               ("hệ thống", "Điện mặt trời cho điểm trường"),
               ("tủ sách", "Tủ sách pháp luật và sách thiếu nhi")]
CADRE_TOPICS = ["Kỹ năng quản lý, điều hành cho cán bộ thôn",
                "Chuyển đổi số cho cán bộ, công chức xã",
                "Nghiệp vụ kế toán, ngân sách xã",
                "Xây dựng và quản lý hợp tác xã",
                "Kỹ năng dân vận vùng đồng bào dân tộc thiểu số",
                "Quản lý dự án đầu tư công quy mô nhỏ",
                "Nghiệp vụ địa chính, đất đai cấp xã",
                "Lập kế hoạch phát triển kinh tế – xã hội có sự tham gia"]
VOC_TOPICS = ["Kỹ thuật {t}", "Sửa chữa máy nông nghiệp", "May công nghiệp",
              "Sửa chữa xe máy", "Hướng dẫn viên du lịch cộng đồng", "Nấu ăn phục vụ homestay",
              "Điện dân dụng", "Lái máy xúc, máy ủi", "Mộc dân dụng"]
REVISE_REASONS = ["Mưa lũ kéo dài, đường vào xã sạt lở, chậm vận chuyển vật tư",
                  "Giá vật liệu xây dựng tăng, điều chỉnh dự toán",
                  "Xã đề nghị điều chỉnh quy mô cho phù hợp nhu cầu thực tế",
                  "Chờ bố trí kinh phí năm sau",
                  "Chậm giải phóng mặt bằng",
                  "Điều chỉnh số hộ tham gia sau khi rà soát hộ nghèo"]
CANCEL_REASONS = ["Xã đã được bố trí từ Chương trình MTQG 1719, tránh trùng lặp",
                  "Không còn hộ đủ điều kiện tham gia",
                  "Nguồn vận động không đạt, chuyển sang cam kết khác",
                  "Địa điểm xây dựng nằm trong vùng nguy cơ sạt lở",
                  "Xã đề nghị chuyển kinh phí sang hỗ trợ xóa nhà tạm"]
# Tết Nguyên đán (the first lunar day) and Trung thu in the period
TET = {2022: (date(2022, 2, 1), "Nhâm Dần"), 2023: (date(2023, 1, 22), "Quý Mão"),
       2024: (date(2024, 2, 10), "Giáp Thìn"), 2025: (date(2025, 1, 29), "Ất Tỵ"),
       2026: (date(2026, 2, 17), "Bính Ngọ")}
TRUNG_THU = [date(2022, 9, 10), date(2023, 9, 29), date(2024, 9, 17), date(2025, 10, 6),
             date(2026, 9, 25)]

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Phan", "Đặng", "Bùi", "Hồ", "Đỗ",
            "Ngô", "Trương", "Đinh"]
MIDDLE = ["Văn", "Thị", "Đức", "Ngọc", "Minh", "Thanh", "Hữu", "Quang", "Thị Thu", "Công"]
GIVEN = ["Hùng", "Lan", "Dũng", "Hoa", "Tuấn", "Hạnh", "Sơn", "Hương", "Phúc", "Thảo", "Long",
         "Trang", "Vinh", "Nga", "Khánh", "Bình", "Tâm", "Quý"]

BODY_PREFIX = {"twinningSigned": "QD", "twinningEnded": "KT", "visit": "CT",
               "supportPledged": "KN", "supportDelivered": "GN", "trainingDelivered": "DT",
               "pledgeRevised": "DC", "pledgeCancelled": "HUY", "feedHeartbeat": "HB"}
TRAINING_CATS = ("CADRE_TRAINING", "VOCATIONAL_TRAINING")


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def vnd(x):
    """Rounded to a million."""
    return int(round(x / 1e6)) * 1_000_000


# ---- events -----------------------------------------------------------------------------

class Ev:
    __slots__ = ("agency", "locality", "ms", "kind", "body", "ref", "actor", "sort_ms", "rec_ms",
                 "seq", "twinning")

    def __init__(self, agency, locality, ms, kind, body, seq, twinning=None):
        self.agency, self.locality, self.ms, self.kind, self.body = agency, locality, ms, kind, body
        self.ref = self.actor = self.rec_ms = None
        self.sort_ms, self.seq, self.twinning = ms, seq, twinning


class Pledge:
    def __init__(self, tw, pid, cat, ms, amount, qty, unit, due, in_kind="", in_kind_val=0,
                 funding="OWN_BUDGET", title=""):
        self.tw, self.pid, self.cat, self.ms = tw, pid, cat, ms
        self.amount, self.qty, self.unit, self.due = amount, qty, unit, due
        self.in_kind, self.in_kind_val, self.funding, self.title = in_kind, in_kind_val, funding, title
        self.ev = None
        self.named = []      # deliveries and trainings naming it
        self.changes = []    # revisions and cancellations
        self.outcome = ""
        self.parked = 0

    @property
    def date(self):
        return local_date(self.ms)


class Twinning:
    def __init__(self, agency, commune, district, profile):
        self.agency, self.commune, self.district, self.profile = agency, commune, district, profile
        self.sign = self.last = self.end = None
        self.end_reason = ""
        self.pledges = []
        self.events = []


class Generator:
    def __init__(self, seed, intensity, agencies, localities):
        self.rng = random.Random(seed)
        self.seed, self.k = seed, intensity
        self.agencies, self.localities = agencies, localities
        self.events, self.seq = [], 0
        self.pledge_no = {}  # (agency, year) -> last number
        self.twinnings = []
        self.actors = {}

    # -- helpers --
    def actor_for(self, agency):
        if agency not in self.actors:
            r = random.Random(f"{self.seed}:{agency}")
            self.actors[agency] = [f"{r.choice(SURNAMES)} {r.choice(MIDDLE)} {r.choice(GIVEN)}"
                                   for _ in range(3)]
        return self.rng.choice(self.actors[agency])

    def when(self, d0, d1, h0=7, h1=16):
        """A working-hours moment on a random day in [d0, d1] (d1 < d0 gives d0)."""
        span = max(0, (d1 - d0).days)
        d = d0 + timedelta(days=self.rng.randint(0, span))
        if d.weekday() == 6 and d + timedelta(days=1) <= d1:
            d += timedelta(days=1)
        return ms_at(d, self.rng.randint(h0, h1), self.rng.randint(0, 59), self.rng.randint(0, 59))

    def emit(self, tw, ms, kind, body, agency=None, locality=None):
        ev = Ev(agency or tw.agency, locality or tw.commune, ms, kind, body, self.seq, tw)
        self.seq += 1
        self.events.append(ev)
        if tw is not None:
            tw.events.append(ev)
        return ev

    def new_pid(self, agency, d):
        n = self.pledge_no.get((agency, d.year), 0) + 1
        self.pledge_no[(agency, d.year)] = n
        return f"P-{d.year}-{n:03d}"

    def evidence(self, agency, ms):
        return f"BB-{local_date(ms).year}-{self.rng.randint(1, 399):03d}/{AGENCY_META[agency][3]}"

    # -- building blocks --
    def sign(self, tw, d, programme=None, end=date(2026, 12, 31)):
        tw.sign = d
        ms = ms_at(d, 8, self.rng.randint(0, 59))
        prog = programme or (f"Kết nghĩa theo Chỉ thị 16-CT/TU của Ban Thường vụ Tỉnh ủy, "
                             f"giai đoạn {d.year}–{end.year}")
        self.emit(tw, ms, "twinningSigned", {"programme": prog, "startDate": d.isoformat(),
                                            "endDate": end.isoformat()})
        return ms

    def visit(self, tw, ms, purpose, participants, gift=0, notes=""):
        body = {"purpose": purpose, "participants": participants}
        if gift:
            body["giftValueVnd"] = str(gift)
        if notes:
            body["notes"] = notes
        return self.emit(tw, ms, "visit", body)

    def pledge(self, p):
        body = {"pledgeId": p.pid, "category": p.cat}
        if p.amount:
            body["amountVnd"] = str(p.amount)
        if p.in_kind:
            body["inKind"] = p.in_kind
        if p.in_kind_val:
            body["inKindValueVnd"] = str(p.in_kind_val)
        if p.qty:
            body["targetQuantity"] = str(p.qty)
        if p.unit:
            body["unit"] = p.unit
        body["dueDate"] = p.due.isoformat()
        body["funding"] = p.funding
        p.ev = self.emit(p.tw, p.ms, "supportPledged", body)
        p.tw.pledges.append(p)
        return p.ev

    def deliver(self, tw, ms, cat, amount, qty, pledge=None):
        body = {}
        if pledge is not None:
            body["pledgeId"] = pledge.pid
        body["category"] = cat
        if amount:
            body["amountVnd"] = str(amount)
        if qty:
            body["quantity"] = str(qty)
        body["evidenceRef"] = self.evidence(tw.agency, ms)
        ev = self.emit(tw, ms, "supportDelivered", body)
        if pledge is not None:
            pledge.named.append(ev)
        return ev

    def train(self, tw, ms, audience, topic, trainees, hours, pledge=None):
        body = {}
        if pledge is not None:
            body["pledgeId"] = pledge.pid
        body.update({"audience": audience, "topic": topic, "trainees": trainees, "hours": hours})
        ev = self.emit(tw, ms, "trainingDelivered", body)
        if pledge is not None:
            pledge.named.append(ev)
        return ev

    def revise(self, p, ms, new_due=None, new_amount=0, new_qty=0, reason=""):
        body = {"pledgeId": p.pid}
        if new_due:
            body["newDueDate"] = new_due.isoformat()
        if new_amount:
            body["newAmountVnd"] = str(new_amount)
        if new_qty:
            body["newTargetQuantity"] = str(new_qty)
        body["reason"] = reason
        ev = self.emit(p.tw, ms, "pledgeRevised", body)
        p.changes.append(ev)
        if new_due:
            p.due = new_due
        p.amount = new_amount or p.amount
        p.qty = new_qty or p.qty
        return ev

    def cancel(self, p, ms, reason):
        ev = self.emit(p.tw, ms, "pledgeCancelled", {"pledgeId": p.pid, "reason": reason})
        p.changes.append(ev)
        return ev

    # -- the hand-written storyline: Petrolimex Quảng Nam and Đắc Tôi --
    def petrolimex(self, tw):
        d = date
        self.sign(tw, d(2021, 10, 15),
                  "Kết nghĩa giữa Công ty Xăng dầu Quảng Nam và xã Đắc Tôi theo Chỉ thị "
                  "16-CT/TU, giai đoạn 2021–2026")
        v = self.visit
        v(tw, ms_at(d(2021, 10, 15), 10, 30), "Lễ ký kết kết nghĩa, khảo sát nhu cầu của xã", 14,
          20_000_000, "Tặng 100 suất quà cho hộ nghèo thôn Đắc Tà Vầng")
        for year, vd, gift in ((2022, d(2022, 1, 20), 30_000_000), (2023, d(2023, 1, 12), 30_000_000),
                               (2024, d(2024, 2, 1), 35_000_000), (2025, d(2025, 1, 20), 35_000_000),
                               (2026, d(2026, 2, 5), 35_000_000)):
            v(tw, ms_at(vd, 8, 45), f"Thăm, chúc Tết Nguyên đán {TET[year][1]} {year}", 10, gift,
              "Tặng quà cho hộ nghèo, người có uy tín và gia đình chính sách")
        for vd, purpose in ((d(2022, 12, 8), "Làm việc với Đảng ủy, UBND xã đánh giá kết nghĩa năm 2022"),
                            (d(2023, 12, 6), "Làm việc với Đảng ủy, UBND xã đánh giá kết nghĩa năm 2023"),
                            (d(2024, 12, 11), "Làm việc với Đảng ủy, UBND xã đánh giá kết nghĩa năm 2024"),
                            (d(2025, 12, 10), "Làm việc với Đảng ủy, UBND xã đánh giá kết nghĩa năm 2025"),
                            (d(2026, 9, 15), "Kiểm tra mô hình bò sinh sản (cam kết P-14); xã đề nghị "
                                             "đẩy nhanh bàn giao bò giống"),
                            (d(2026, 11, 12), "Làm việc với UBND xã về tiến độ cam kết P-14")):
            v(tw, ms_at(vd, 9, 15), purpose, 6)
        def mk(no, pd, cat, amount, qty, unit, due, **kw):
            # P-14 is posted at 07:00 on New Year's Day 2026 (occurredAtMs 1767225600000)
            p = Pledge(tw, f"P-{no:02d}", cat, ms_at(pd, 7) if no == 14 else ms_at(pd, 9, 30),
                       amount, qty, unit, due, **kw)
            self.pledge(p)
            p.ev.ref = f"KN-{pd.year}-{no:03d}"  # Petrolimex numbers its pledge documents
            p.outcome = "fixed"
            return p

        def D(p, dd, amount, qty):
            return self.deliver(tw, ms_at(dd, 14, 10), p.cat, amount, qty, p)
        p = mk(1, d(2021, 11, 10), "HOUSING", 150_000_000, 3, "căn nhà", d(2022, 6, 30),
               funding="MOBILISED", title="Xây nhà Đại đoàn kết cho hộ nghèo")
        D(p, d(2022, 3, 20), 100_000_000, 2)
        D(p, d(2022, 5, 28), 50_000_000, 1)
        p = mk(2, d(2022, 3, 15), "ECONOMIC_MODEL", 200_000_000, 20, "hộ", d(2022, 12, 31),
               in_kind="60 heo giống bản địa, thức ăn và vật tư làm chuồng", in_kind_val=140_000_000)
        D(p, d(2022, 5, 10), 120_000_000, 12)
        D(p, d(2022, 9, 15), 80_000_000, 8)
        self.deliver(tw, ms_at(d(2022, 10, 5), 15), "SOCIAL_SECURITY", 30_000_000, 60)  # bão Noru
        p = mk(3, d(2022, 6, 1), "JOB_CREATION", 0, 8, "việc làm", d(2023, 6, 30))
        D(p, d(2022, 10, 1), 0, 3)
        D(p, d(2023, 4, 15), 0, 5)
        p = mk(4, d(2022, 8, 10), "VOCATIONAL_TRAINING", 90_000_000, 25, "học viên", d(2023, 3, 31))
        D(p, d(2022, 10, 20), 90_000_000, 0)
        self.train(tw, ms_at(d(2022, 11, 5), 8), "RESIDENTS_VOCATIONAL", "Sửa chữa xe máy", 12, 120, p)
        self.train(tw, ms_at(d(2023, 2, 20), 8), "RESIDENTS_VOCATIONAL",
                   "Kỹ thuật nuôi heo đen bản địa", 14, 80, p)
        p = mk(5, d(2022, 11, 20), "INFRASTRUCTURE", 450_000_000, 1, "công trình", d(2023, 9, 30),
               title="Đường bê tông thôn Đắc Tà Vầng")
        D(p, d(2023, 4, 10), 200_000_000, 0)
        D(p, d(2023, 12, 15), 250_000_000, 1)  # late: due 2023-09-30
        p = mk(6, d(2023, 3, 8), "CADRE_TRAINING", 40_000_000, 20, "học viên", d(2023, 12, 31))
        D(p, d(2023, 5, 5), 40_000_000, 0)
        self.train(tw, ms_at(d(2023, 5, 20), 8), "LOCAL_CADRES",
                   "Kỹ năng quản lý, điều hành cho cán bộ thôn", 12, 24, p)
        self.train(tw, ms_at(d(2023, 8, 18), 8), "LOCAL_CADRES",
                   "Chuyển đổi số cho cán bộ, công chức xã", 9, 16, p)
        p = mk(7, d(2023, 6, 15), "MODEL_REPLICATION", 120_000_000, 15, "hộ", d(2024, 6, 30),
               title="Nhân rộng mô hình nuôi heo đen bản địa")
        D(p, d(2023, 10, 12), 60_000_000, 8)
        D(p, d(2024, 5, 20), 60_000_000, 7)
        p = mk(8, d(2023, 9, 5), "SOCIAL_SECURITY", 60_000_000, 30, "suất học bổng", d(2024, 9, 30))
        D(p, d(2023, 9, 20), 30_000_000, 15)
        D(p, d(2024, 9, 10), 30_000_000, 15)
        p = mk(9, d(2024, 1, 10), "HOUSING", 250_000_000, 5, "căn nhà", d(2024, 12, 31),
               funding="MOBILISED")
        D(p, d(2024, 6, 18), 100_000_000, 2)
        self.revise(p, ms_at(d(2024, 11, 20), 10), new_due=d(2025, 6, 30),
                    reason="Mưa lũ kéo dài, đường vào xã sạt lở, chậm vận chuyển vật liệu")
        D(p, d(2025, 5, 15), 150_000_000, 3)
        p = mk(10, d(2024, 4, 2), "LIVELIHOOD_GOODS", 80_000_000, 40, "hộ", d(2024, 8, 31),
               in_kind="40 máy phát cỏ", in_kind_val=80_000_000)
        D(p, d(2024, 7, 10), 80_000_000, 40)
        p = mk(11, d(2024, 8, 20), "ECONOMIC_MODEL", 180_000_000, 25, "hộ", d(2025, 6, 30),
               title="Mô hình trồng ba kích tím dưới tán rừng")
        D(p, d(2024, 10, 5), 90_000_000, 12)
        D(p, d(2025, 4, 22), 90_000_000, 13)
        p = mk(12, d(2025, 3, 10), "OTHER", 70_000_000, 0, "", d(2025, 9, 30),
               in_kind="Trang thiết bị cho Trạm Y tế xã", in_kind_val=70_000_000)
        D(p, d(2025, 8, 15), 70_000_000, 0)
        p = mk(13, d(2025, 6, 10), "JOB_CREATION", 0, 6, "việc làm", d(2026, 3, 31))
        D(p, d(2025, 10, 1), 0, 2)
        self.deliver(tw, ms_at(d(2025, 11, 5), 15), "SOCIAL_SECURITY", 50_000_000, 85)  # lũ 2025
        D(p, d(2026, 3, 16), 0, 4)
        # P-14: 150 million for a breeding-cow model, due 2026-06-30, 40 % delivered: overdue.
        p = mk(14, d(2026, 1, 1), "ECONOMIC_MODEL", 150_000_000, 10, "hộ", d(2026, 6, 30),
               in_kind="10 bò cái giống sinh sản", in_kind_val=120_000_000,
               title="Mô hình nuôi bò sinh sản")
        D(p, d(2026, 3, 20), 30_000_000, 2)
        D(p, d(2026, 5, 12), 30_000_000, 2)
        tw.last = LAST

    # -- generic twinnings --
    def category(self, tw):
        if tw.profile == "mixed":
            mix = MIXED_MIX
        else:
            mix = dict(DEFAULT_MIX)
            for c, w in MIX_BOOST.get(tw.agency, {}).items():
                mix[c] = mix[c] + w
        cats = list(mix)
        return self.rng.choices(cats, weights=[mix[c] for c in cats])[0]

    def make_pledge(self, tw, ms):
        r, cat = self.rng, self.category(tw)
        if tw.profile == "mixed" and not tw.pledges:
            cat = r.choice(["ECONOMIC_MODEL", "MODEL_REPLICATION", "CADRE_TRAINING"])
        d = local_date(ms)
        theme = r.choice(THEMES[tw.district])
        in_kind, in_kind_val, title, funding = "", 0, "", r.choice(["OWN_BUDGET"] * 3 + ["MOBILISED"])
        if cat == "ECONOMIC_MODEL":
            if r.random() < 0.7:
                qty, unit = r.randint(8, 40), "hộ"
            else:
                qty, unit = r.randint(1, 3), "mô hình"
            amount = vnd(r.uniform(60, 600) * 1e6)
            title = f"Mô hình {theme}"
            if r.random() < 0.5:
                in_kind = f"Giống, vật tư cho mô hình {theme}"
                in_kind_val = vnd(amount * r.uniform(0.4, 0.9))
        elif cat == "MODEL_REPLICATION":
            qty, unit = (r.randint(5, 25), "hộ") if r.random() < 0.6 else (r.randint(2, 6), "mô hình")
            amount = vnd(r.uniform(50, 300) * 1e6)
            title = f"Nhân rộng mô hình {theme}"
        elif cat == "INFRASTRUCTURE":
            qty, unit = 1, "công trình"
            amount = vnd(r.uniform(300, 3000) * 1e6)
            title = r.choice(INFRA).format(v=r.choice(VILLAGES))
        elif cat == "HOUSING":
            qty, unit = r.randint(3, 15), "căn nhà"
            amount = qty * r.choice([50_000_000, 55_000_000, 60_000_000])
            title = "Xóa nhà tạm, nhà dột nát cho hộ nghèo"
        elif cat == "LIVELIHOOD_GOODS":
            qty, unit = r.randint(10, 60), "hộ"
            in_kind = r.choice(LIVELIHOOD)
            amount = vnd(qty * r.uniform(2, 6) * 1e6)
            in_kind_val = amount
        elif cat == "CADRE_TRAINING":
            qty, unit = r.randint(15, 60), "học viên"
            amount = vnd(qty * r.uniform(1.2, 2.5) * 1e6)
        elif cat == "VOCATIONAL_TRAINING":
            qty, unit = r.randint(20, 80), "học viên"
            amount = vnd(qty * r.uniform(2.5, 5) * 1e6)
        elif cat == "JOB_CREATION":
            qty, unit = r.randint(5, 40), "việc làm"
            amount = 0 if r.random() < 0.6 else vnd(qty * r.uniform(3, 8) * 1e6)
        elif cat == "SOCIAL_SECURITY":
            unit, title = r.choice(SOCIAL)
            qty = r.randint(10, 60)
            amount = vnd(qty * r.uniform(1, 4) * 1e6)
        else:  # OTHER
            unit, in_kind = r.choice(OTHER_ITEMS)
            qty = r.randint(1, 10) if unit == "bộ" else 0
            unit = unit if qty else ""
            amount = vnd(r.uniform(30, 300) * 1e6)
            in_kind_val = amount
        if amount:
            amount = max(amount, 20_000_000)
            in_kind_val = min(in_kind_val, amount)
        due = quarter_end(add_months(d, r.randint(3, 15)))
        p = Pledge(tw, self.new_pid(tw.agency, d), cat, ms, amount, qty, unit, due, in_kind,
                   in_kind_val, funding, title)
        p.theme = theme
        return p

    def times(self, n, d0, d1):
        """n increasing moments in [d0, d1], at least a day apart where room allows."""
        if d1 < d0:
            d1 = d0
        days = sorted(self.rng.sample(range((d1 - d0).days + 1), min(n, (d1 - d0).days + 1)))
        while len(days) < n:
            days.append(days[-1])
        out, last = [], 0
        for dd in days:
            ms = ms_at(d0 + timedelta(days=dd), self.rng.randint(7, 16), self.rng.randint(0, 59),
                       self.rng.randint(0, 59))
            ms = max(ms, last + 60_000)
            out.append(ms)
            last = ms
        return out

    def split(self, total, n, unit=1_000_000):
        """total split in n positive-ish parts, rounded to unit, summing exactly to total."""
        if n <= 1 or total <= 0:
            return [total] + [0] * (n - 1)
        w = [self.rng.uniform(0.6, 1.4) for _ in range(n)]
        s = sum(w)
        parts = [int(total * x / s) // unit * unit for x in w[:-1]]
        parts.append(total - sum(parts))
        return parts

    def fulfil(self, p, frac, d0, d1, n=None):
        """Deliveries (and trainings) worth frac of the pledge, in [d0, d1]."""
        tw, r = p.tw, self.rng
        if frac <= 0 or d1 < d0:
            return
        full = frac >= 1
        amount = p.amount if full else min(vnd(p.amount * frac), max(0, p.amount - 1_000_000))
        qty = p.qty if full else min(int(p.qty * frac), max(0, p.qty - 1))
        if p.cat in TRAINING_CATS:
            audience = "LOCAL_CADRES" if p.cat == "CADRE_TRAINING" else "RESIDENTS_VOCATIONAL"
            courses = max(1, min(4, (qty + 29) // 30)) if qty else 0
            if full:
                qty += r.randint(0, 3)  # a few more than promised
            parts = self.split(qty, courses, 1) if courses else []
            funds = 1 if amount <= 60_000_000 else 2
            ms = self.times(funds + courses, d0, d1)
            money = self.split(amount, funds)
            for i in range(funds):
                if money[i]:
                    self.deliver(tw, ms[i], p.cat, money[i], 0, p)
            for i, t in enumerate(parts):
                if t <= 0:
                    continue
                if p.cat == "CADRE_TRAINING":
                    topic, hours = r.choice(CADRE_TOPICS), r.choice([16, 24, 32, 40])
                else:
                    topic = r.choice(VOC_TOPICS).format(t=getattr(p, "theme", "trồng trọt"))
                    hours = r.choice([80, 120, 160, 240, 300])
                self.train(tw, ms[funds + i], audience, topic, t, hours, p)
            return
        if n is None:
            n = 1 if (amount <= 80_000_000 and qty <= 10) else r.randint(2, 4)
        if p.cat == "INFRASTRUCTURE":
            n = max(n, 2) if amount > 500_000_000 else n
            money = self.split(amount, n)
            qtys = [0] * (n - 1) + [qty]
        else:
            money = self.split(amount, n) if amount else [0] * n
            qtys = self.split(qty, n, 1) if qty else [0] * n
        for ms, a, q in zip(self.times(n, d0, d1), money, qtys):
            if a or q:
                self.deliver(tw, ms, p.cat, a, q, p)

    def plan_outcome(self, p):
        tw, r = p.tw, self.rng
        limit = tw.last
        d, due = p.date, p.due
        start = d + timedelta(days=7)
        if getattr(p, "force", False):
            choice = "on_time" if due <= limit else "early"
        elif tw.profile == "ended":
            choice = r.choices(["on_time", "late", "cancelled"], [65, 15, 20])[0]
        elif tw.profile == "dormant" and due > limit:
            choice = "stalled"
        elif due >= TODAY:
            choice = r.choices(["open", "early", "revised"], [62, 26, 12])[0]
        elif due >= TODAY - timedelta(days=45):
            choice = r.choices(["on_time", "overdue"], [80, 20])[0]
        else:
            choice = r.choices(["on_time", "late", "overdue", "revised", "cancelled"],
                               [60, 16, 4, 12, 8])[0]
        if choice == "late" and due + timedelta(days=20) > limit:
            choice = "on_time"
        if choice == "revised" and min(due + timedelta(days=45), limit - timedelta(days=30)) < \
                d + timedelta(days=60):
            choice = "on_time" if due <= limit else "open"
        p.outcome = choice
        if choice in ("on_time", "early"):
            self.fulfil(p, 1, start, min(due, limit))
        elif choice == "late":
            pre = r.uniform(0.3, 0.7)
            self.fulfil(p, pre, start, due - timedelta(days=10))
            rest_day = r.randint(15, 200)
            at = min(due + timedelta(days=rest_day), limit)
            # the last delivery, after the due date, completes the pledge
            self.complete_rest(p, ms_at(at, 14, r.randint(0, 59)))
        elif choice in ("overdue", "open", "stalled"):
            frac = 0 if r.random() < 0.2 else r.uniform(0.15, 0.85)
            self.fulfil(p, frac, start, limit)
        elif choice == "revised":
            lo = d + timedelta(days=60)
            hi = min(due + timedelta(days=45), limit - timedelta(days=30))
            rev = ms_at(lo + timedelta(days=r.randint(0, (hi - lo).days)), 10, r.randint(0, 59))
            rd = local_date(rev)
            self.fulfil(p, r.uniform(0.2, 0.6), start, rd - timedelta(days=3))
            new_due = quarter_end(add_months(max(due, rd), r.randint(3, 9)))
            delivered = sum(int(e.body.get("amountVnd", "0")) for e in p.named)
            new_amount = 0
            if p.amount and r.random() < 0.45:
                new_amount = max(delivered + 10_000_000, vnd(p.amount * r.uniform(0.8, 1.2)))
                if new_amount == p.amount:
                    new_amount = 0
            new_qty = 0
            if p.qty > 3 and r.random() < 0.2:
                new_qty = max(p.qty - r.randint(1, 3), 1)
            self.revise(p, rev, new_due, new_amount, new_qty, r.choice(REVISE_REASONS))
            after = rd + timedelta(days=7)
            if new_due < TODAY:
                if r.random() < 0.8:
                    self.complete_rest(p, ms_at(min(new_due, limit) - timedelta(days=r.randint(0, 20)),
                                                14, r.randint(0, 59)), lo_day=after)
                    p.outcome = "revised_fulfilled"
                else:
                    self.top_up(p, r.uniform(0.0, 0.3), after, limit)
                    p.outcome = "revised_overdue"
            else:
                if r.random() < 0.4:
                    self.complete_rest(p, ms_at(min(new_due, limit) - timedelta(days=r.randint(0, 20)),
                                                14, r.randint(0, 59)), lo_day=after)
                    p.outcome = "revised_fulfilled"
                else:
                    self.top_up(p, r.uniform(0.0, 0.3), after, limit)
                    p.outcome = "revised_open"
        elif choice == "cancelled":
            lo = d + timedelta(days=30)
            hi = min(due + timedelta(days=90), limit - timedelta(days=5))
            if tw.profile == "ended":
                hi = min(hi, tw.end - timedelta(days=5))
            if hi < lo:
                hi = lo
            cd = lo + timedelta(days=r.randint(0, (hi - lo).days))
            if r.random() < 0.6:
                self.fulfil(p, r.uniform(0.1, 0.5), start, cd - timedelta(days=3))
            self.cancel(p, ms_at(cd, 15, r.randint(0, 59)), r.choice(CANCEL_REASONS))

    def delivered(self, p):
        amt = sum(int(e.body.get("amountVnd", "0")) for e in p.named if e.kind == "supportDelivered")
        qty = sum(int(e.body.get("quantity", "0")) for e in p.named if e.kind == "supportDelivered")
        qty += sum(e.body["trainees"] for e in p.named if e.kind == "trainingDelivered")
        return amt, qty

    def complete_rest(self, p, ms, lo_day=None):
        """One last event (two for trainings) that completes the pledge at ms."""
        amt, qty = self.delivered(p)
        last = max([e.ms for e in p.named + p.changes], default=p.ms)
        ms = max(ms, last + 86_400_000)
        if lo_day is not None:
            ms = max(ms, ms_at(lo_day, 9))
        ms = min(ms, ms_at(p.tw.last, 16, 30))
        ms = max(ms, last + 60_000)
        ra, rq = max(0, p.amount - amt), max(0, p.qty - qty)
        if not ra and not rq:
            return
        if p.cat in TRAINING_CATS:
            if ra:
                self.deliver(p.tw, ms - 3_600_000 if ms - 3_600_000 > last else ms, p.cat, ra, 0, p)
            if rq:
                audience = "LOCAL_CADRES" if p.cat == "CADRE_TRAINING" else "RESIDENTS_VOCATIONAL"
                topic = (self.rng.choice(CADRE_TOPICS) if p.cat == "CADRE_TRAINING"
                         else self.rng.choice(VOC_TOPICS).format(t=getattr(p, "theme", "trồng trọt")))
                self.train(p.tw, ms, audience, topic, rq, self.rng.choice([24, 40, 120]), p)
        else:
            self.deliver(p.tw, ms, p.cat, ra, rq, p)

    def top_up(self, p, frac, d0, d1):
        """A little more, still short of the targets."""
        if frac <= 0 or d1 < d0:
            return
        amt, qty = self.delivered(p)
        ra = min(vnd(p.amount * frac), max(0, p.amount - amt - 1_000_000)) if p.amount else 0
        rq = min(int(p.qty * frac), max(0, p.qty - qty - 1)) if p.qty else 0
        if p.amount and ra <= 0:
            return
        if not p.amount and rq <= 0:
            return
        ms = self.times(1, d0, d1)[0]
        if p.cat in TRAINING_CATS:
            if ra:
                self.deliver(p.tw, ms, p.cat, ra, 0, p)
        else:
            self.deliver(p.tw, ms, p.cat, ra, rq, p)

    def visits(self, tw):
        r, k = self.rng, self.k
        f = min(1.0, k / 1.6)  # small feeds (--events well below 3000) visit less
        formal = tw.profile == "formal"
        s0, s1 = tw.sign + timedelta(days=1), tw.last
        for year, (tet, can_chi) in TET.items():
            d0, d1 = tet - timedelta(days=21), tet - timedelta(days=4)
            if d0 < s0 or d1 > s1:
                continue
            if r.random() < f * (1.0 if formal else 0.9 if tw.profile == "mixed" else 0.7):
                gift = vnd(r.uniform(40, 120) * 1e6) if formal else vnd(r.uniform(10, 50) * 1e6)
                self.visit(tw, self.when(d0, d1), f"Thăm, chúc Tết Nguyên đán {can_chi} {year}",
                           r.randint(6, 25), gift,
                           f"Tặng {gift // 500_000} suất quà cho hộ nghèo, gia đình chính sách")
        for tt in TRUNG_THU:
            d0, d1 = tt - timedelta(days=10), tt - timedelta(days=1)
            if d0 < s0 or d1 > s1:
                continue
            if r.random() < f * (0.9 if formal else 0.35):
                gift = vnd(r.uniform(5, 30) * 1e6)
                self.visit(tw, self.when(d0, d1), "Vui Tết Trung thu cùng thiếu nhi",
                           r.randint(5, 15), gift, f"Tặng quà cho {gift // 100_000} em thiếu nhi")
        for year in range(2022, 2027):
            if formal:
                for d0, d1, purpose, g in (
                        (date(year, 5, 25), date(year, 5, 31),
                         "Thăm, tặng quà nhân Ngày Quốc tế Thiếu nhi 1/6", (5, 20)),
                        (date(year, 11, 10), date(year, 11, 18),
                         "Dự Ngày hội Đại đoàn kết toàn dân tộc ở khu dân cư", (5, 15))):
                    if d0 >= s0 and d1 <= s1 and r.random() < 0.8 * f:
                        self.visit(tw, self.when(d0, d1), purpose, r.randint(4, 12),
                                   vnd(r.uniform(*g) * 1e6))
            # working visits: planning early in the year, review at year end
            rate = {"formal": 0.5, "mixed": 1.0}.get(tw.profile, 1.6) * k
            n = int(rate) + (1 if r.random() < rate - int(rate) else 0)
            for i in range(n):
                if i % 2 == 0:
                    d0, d1, purpose = (date(year, 2, 20), date(year, 4, 30),
                                       f"Khảo sát, thống nhất nhu cầu hỗ trợ năm {year}")
                else:
                    d0, d1, purpose = (date(year, 11, 25), date(year, 12, 20),
                                       f"Làm việc với Đảng ủy, UBND xã đánh giá kết nghĩa năm {year}")
                if i >= 2:
                    d0, d1, purpose = (date(year, 5, 1), date(year, 10, 31),
                                       "Kiểm tra tiến độ các cam kết hỗ trợ")
                d0, d1 = max(d0, s0), min(d1, s1)
                if d1 >= d0:
                    gift = 0 if not formal else vnd(r.uniform(5, 20) * 1e6)
                    self.visit(tw, self.when(d0, d1), purpose, r.randint(3, 10), gift)
            # formal twinnings: a yearly gift of goods, recorded as a standalone delivery
            if tw.profile in ("formal", "mixed"):
                d0, d1 = max(date(year, 1, 2), s0), min(date(year, 1, 25), s1)
                if d1 >= d0 and r.random() < (0.6 if formal else 0.1):
                    hh = r.randint(30, 120)
                    self.deliver(tw, self.when(d0, d1), "LIVELIHOOD_GOODS",
                                 hh * r.choice([300_000, 500_000, 700_000]), hh)

    def generic(self, tw):
        r, k = self.rng, self.k
        if tw.profile in ("formal", "mixed") or r.random() < 0.8:
            sd = FIRST + timedelta(days=r.randint(0, 210))  # most signed by spring 2022
        else:
            sd = date(2022, 6, 1) + timedelta(days=r.randint(0, 540))  # a later pairing
        self.sign(tw, sd)
        key = (tw.agency, tw.commune)
        if tw.profile == "dormant":
            lo, hi = DORMANT_UNTIL[key]
            tw.last = lo + timedelta(days=r.randint(0, (hi - lo).days))
        elif tw.profile == "ended":
            tw.end, tw.end_reason = ENDED[key]
            tw.last = tw.end - timedelta(days=2)
        else:
            tw.last = LAST
        self.visits(tw)
        if tw.profile == "formal":
            return
        years = (tw.last - tw.sign).days / 365.25
        rate = (0.8 if tw.profile == "mixed" else 1.45) * k
        n = max(1, int(round(rate * years + r.uniform(-1, 1))))
        p0, p1 = tw.sign + timedelta(days=14), tw.last - timedelta(days=40)
        if tw.profile == "ended":
            p1 = tw.end - timedelta(days=240)
        pms = self.times(n, p0, p1)
        for ms in pms:
            p = self.make_pledge(tw, ms)
            p.force = tw.profile == "mixed" and not tw.pledges  # some real help, at least once
            if tw.profile == "ended" and p.due > tw.end - timedelta(days=30):
                p.due = max(quarter_end(p.date), tw.end - timedelta(days=60))
                if p.due < p.date:
                    p.due = p.date + timedelta(days=60)
            self.pledge(p)
            self.plan_outcome(p)
        # a few trainings outside any pledge (a one-day skills session)
        for _ in range(r.choice([0, 0, 0, 1])):
            ms = self.when(tw.sign + timedelta(days=30), tw.last)
            self.train(tw, ms, r.choice(["LOCAL_CADRES", "RESIDENTS_VOCATIONAL"]),
                       r.choice(CADRE_TOPICS[:3] + ["Kỹ năng phòng chống thiên tai, sạt lở"]),
                       r.randint(15, 40), r.choice([4, 8, 16]))

    def floods(self):
        """Standalone relief after the floods of late October 2025 and the 2022 typhoon."""
        for tw in self.twinnings:
            if tw.profile == "fixed" or tw.last < date(2025, 11, 20) or tw.district not in (
                    "510", "504", "505", "511", "515", "516"):
                continue
            if self.rng.random() < 0.25:
                hh = self.rng.randint(30, 150)
                ms = self.when(date(2025, 11, 3), date(2025, 11, 20))
                self.deliver(tw, ms, "SOCIAL_SECURITY", hh * 500_000, hh)
        for tw in self.twinnings:
            if tw.profile == "fixed" or tw.sign > date(2022, 9, 25) or tw.last < date(2022, 11, 1):
                continue
            if self.rng.random() < 0.15:
                hh = self.rng.randint(20, 80)
                ms = self.when(date(2022, 10, 3), date(2022, 10, 25))
                cat = self.rng.choice(["SOCIAL_SECURITY", "HOUSING", "LIVELIHOOD_GOODS"])
                self.deliver(tw, ms, cat, hh * 400_000, hh)

    def ends(self):
        for tw in self.twinnings:
            if tw.profile != "ended":
                continue
            # anything still open is cancelled before the twinning ends
            for p in tw.pledges:
                if p.changes and p.changes[-1].kind == "pledgeCancelled":
                    continue
                amt, qty = self.delivered(p)
                if (p.amount and amt < p.amount) or (p.qty and qty < p.qty):
                    last = max([e.ms for e in p.named + p.changes], default=p.ms)
                    ms = max(last + 86_400_000, ms_at(tw.end - timedelta(days=3), 9))
                    self.cancel(p, ms, "Kết thúc kết nghĩa; phần còn lại chuyển cho xã tự cân đối")
            self.emit(tw, ms_at(tw.end, 15, 30), "twinningEnded", {"reason": tw.end_reason})

    def review_visits(self):
        """Active twinnings all show activity in the last months (only the dormant ones don't)."""
        acts = ("visit", "supportPledged", "supportDelivered", "trainingDelivered")
        for tw in self.twinnings:
            if tw.profile in ("dormant", "ended"):
                continue
            last = max(e.ms for e in tw.events if e.kind in acts or e.kind == "twinningSigned")
            if last < ms_at(date(2026, 8, 1), 0):
                self.visit(tw, self.when(date(2026, 8, 3), date(2026, 11, 13)),
                           "Rà soát kết quả kết nghĩa, chuẩn bị tổng kết giai đoạn 2021–2026",
                           self.rng.randint(4, 10))

    def heartbeats(self):
        for agency, stop in HEARTBEATS.items():
            home = AGENCY_META[agency][1]
            until = HB_LAST
            if stop == "dormant":
                until = max(t.last for t in self.twinnings if t.agency == agency)
            d = date(2025, 1, 1)
            while d <= until:
                ev = self.emit(None, ms_at(d, 0, 5), "feedHeartbeat", {}, agency, home)
                ev.ref = f"HB-{d.isoformat()}"
                d = add_months(d, 1 if self.k >= 1 else 3)
            if stop is None:  # a daily heartbeat the last days before "now"
                for dd in (date(2026, 11, 21), date(2026, 11, 23), HB_LAST):
                    ev = self.emit(None, ms_at(dd, 0, 5), "feedHeartbeat", {}, agency, home)
                    ev.ref = f"HB-{dd.isoformat()}"

    def park(self):
        """Picks pledges whose SupportPledged reaches the feed only after 2-3 of their
        deliveries (an export re-imported out of order). Returns the parked count."""
        cands = [p for tw in self.twinnings if tw.profile in ("substantive", "mixed")
                 for p in tw.pledges if len(p.named) >= 2]
        self.rng.shuffle(cands)
        total = 0
        for p in cands:
            if total >= PARKED_TARGET:
                break
            named = sorted(p.named, key=lambda e: e.ms)
            want = min(PARKED_TARGET - total, self.rng.choice([2, 2, 3]), len(named))
            lo = named[want - 1].ms + 2 * 86_400_000
            hi = min([e.ms for e in named[want:] + p.changes] + [ms_at(LAST, 17)]) - 3_600_000
            if hi <= lo:
                continue
            arrive = lo + self.rng.randint(0, min(hi - lo, 20 * 86_400_000))
            p.ev.sort_ms = arrive
            p.ev.rec_ms = arrive + self.rng.randint(60_000, 3_600_000)
            p.parked = want
            total += want
        return total

    def run(self):
        loc = {r["code"]: r for r in self.localities}
        for agency, commune, profile in TWINNINGS:
            tw = Twinning(agency, commune, loc[commune]["parent_code"], profile)
            self.twinnings.append(tw)
        for tw in self.twinnings:
            if tw.profile == "fixed":
                self.petrolimex(tw)
            else:
                self.generic(tw)
        self.floods()
        self.review_visits()
        self.ends()
        self.heartbeats()
        self.parked = self.park()
        return self.events


def finish(events, seed):
    """Sorts, numbers source refs, fills recorded times, actors and event ids."""
    rng = random.Random(f"{seed}:finish")
    events.sort(key=lambda e: (e.sort_ms, e.seq))
    counters, seen = {}, set()
    out = []
    for e in events:
        src, _, style, _ = AGENCY_META[e.agency]
        year = local_date(e.ms).year
        if e.ref is None:
            key = (src, BODY_PREFIX[e.kind], year)
            counters[key] = counters.get(key, 0) + 1
            e.ref = f"{BODY_PREFIX[e.kind]}-{year}-{counters[key]:04d}"
        if (src, e.ref) in seen:
            raise SystemExit(f"gen_feed: duplicate source ref {src} {e.ref}")
        seen.add((src, e.ref))
        if e.rec_ms is None:
            if e.kind == "feedHeartbeat":
                lag = rng.randint(50, 900)
            elif style == "erp":
                lag = rng.randint(60_000, 4 * 3_600_000)
            else:
                lag = rng.randint(86_400_000, 21 * 86_400_000)
            e.rec_ms = e.ms + lag
        e.rec_ms = max(e.ms, min(e.rec_ms, max(REC_CAP, e.ms)))
        actor = f"{src}/scheduler" if e.kind == "feedHeartbeat" else e.actor
        ev = {"eventId": str(uuid.uuid5(NS, src + "\n" + e.ref)), "schemaVersion": 1,
              "agencyCode": e.agency, "localityCode": e.locality,
              "occurredAtMs": str(e.ms), "recordedAtMs": str(e.rec_ms),
              "sourceSystem": src, "sourceRef": e.ref, "actor": actor, e.kind: e.body}
        out.append(ev)
    return out


def generate(seed, intensity, agencies, localities):
    g = Generator(seed, intensity, agencies, localities)
    events = g.run()
    for e in events:
        e.actor = g.actor_for(e.agency)
    return g, events


def pad(g, events, n):
    """Adds working visits to active twinnings until there are n events."""
    r = random.Random(f"{g.seed}:pad")
    active = [tw for tw in g.twinnings if tw.profile in ("substantive", "mixed")]
    g.padded = max(0, n - len(events))
    while len(events) < n:
        tw = r.choice(active)
        d0 = max(tw.sign + timedelta(days=1), FIRST)
        span = (tw.last - d0).days
        d = d0 + timedelta(days=r.randint(0, span))
        ev = g.visit(tw, ms_at(d, r.randint(7, 16), r.randint(0, 59), r.randint(0, 59)),
                     r.choice(["Kiểm tra tiến độ các cam kết hỗ trợ",
                               "Trao đổi kinh nghiệm sản xuất với hộ tham gia mô hình",
                               "Làm việc với Ban Chỉ đạo kết nghĩa của xã"]),
                     r.randint(3, 8))
        ev.actor = g.actor_for(tw.agency)
    return events


def summary(g, out):
    from collections import Counter
    kinds = Counter(next(k for k in BODY_PREFIX if k in e) for e in out)
    outcomes = Counter(p.outcome for tw in g.twinnings for p in tw.pledges)
    lines = [f"gen_feed: {len(out)} events, {len(g.twinnings)} twinnings, seed {g.seed}, "
             f"intensity {g.k:.3f}, {getattr(g, 'padded', 0)} visits added to reach --events",
             "  by type: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
             "  pledge outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
             f"  parked deliveries: {g.parked} (pledges: " + ", ".join(
                 f"{p.tw.agency}/{p.pid}@{p.tw.commune}x{p.parked}"
                 for tw in g.twinnings for p in tw.pledges if p.parked) + ")"]
    return "\n".join(lines)


COMMUNE_LEVEL = ("commune", "ward", "township")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="feed file to write (JSON lines)")
    ap.add_argument("--seed", type=int, default=16, help="random seed (default 16, for Chỉ thị 16)")
    ap.add_argument("--events", type=int, default=3000, help="number of events (default 3000)")
    ap.add_argument("--agencies", default=os.path.join(HERE, "agencies.csv"))
    ap.add_argument("--localities", default=os.path.join(HERE, "localities.csv"))
    args = ap.parse_args(argv)
    if args.events < 1:
        ap.error("--events must be positive")

    agencies = read_csv(args.agencies)
    localities = read_csv(args.localities)
    acodes = {a["code"] for a in agencies}
    loc = {r["code"]: r for r in localities}
    problems = []
    for agency, commune, _ in TWINNINGS:
        if agency not in acodes:
            problems.append(f"agency {agency} is not in {args.agencies}")
        if agency not in AGENCY_META:
            problems.append(f"agency {agency} has no source system")
        if loc.get(commune, {}).get("level") not in COMMUNE_LEVEL:
            problems.append(f"commune {commune} is not a commune in {args.localities}")
        elif loc[commune]["parent_code"] not in THEMES:
            problems.append(f"commune {commune}: district {loc[commune]['parent_code']} has no themes")
    for agency, meta in AGENCY_META.items():
        if loc.get(meta[1], {}).get("level") not in COMMUNE_LEVEL:
            problems.append(f"home ward {meta[1]} of {agency} is not in {args.localities}")
    if problems:
        sys.exit("gen_feed: " + "\n  ".join(problems))

    # Scale the activity so the feed has --events events: generate, measure, rescale.
    best, k = None, args.events / 3000
    for _ in range(8):
        g, events = generate(args.seed, k, agencies, localities)
        n = len(events)
        if n <= args.events and (best is None or n > len(best[1])):
            best = (g, events)
        if args.events * 0.985 <= n <= args.events:
            break
        base = 400  # roughly what does not scale (fixed story, heartbeats, signings)
        k = max(0.05, k * max(1, args.events - base) / max(1, n - base) * (0.995 if n > args.events else 1))
    if best is None:
        print(f"gen_feed: the storylines alone need {n} events; writing {n}", file=sys.stderr)
        best = (g, events)
    g, events = best
    events = pad(g, events, args.events)
    out = finish(events, args.seed)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for ev in out:
            f.write(json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n")
    os.replace(tmp, args.out)
    print(summary(g, out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
