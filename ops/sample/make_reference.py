#!/usr/bin/env python3
"""make_reference.py: writes localities.csv, the unit versions twinctl
load-reference --localities takes, from the statistics
office's commune list of 4 January 2025 (reference/communes-...csv, copied
from ../shared/reference; see reference/SOURCE.md). Every unit is valid from
the beginning; the conversion table (--lineage) ends them on 2025-06-30.

The flags (ethnic_minority, mountainous, border, especially_difficult) are
not in the list: they are the sample's, set per district below (and a few
communes), illustrative and not an official classification."""
import csv, os

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "reference")
LEVEL = {"Xã": "commune", "Phường": "ward", "Thị trấn": "township"}
# district -> (ethnic_minority, mountainous, border, especially_difficult)
DISTRICT_FLAGS = {
    "504": (1, 1, 1, 1), "505": (1, 1, 0, 0), "510": (1, 1, 1, 1), "511": (1, 1, 0, 1),
    "512": (0, 1, 0, 0), "514": (0, 1, 0, 0), "515": (1, 1, 0, 1), "516": (1, 1, 0, 1),
    "506": (0, 1, 0, 0),
}
# communes that differ from their district (the sample's earlier choices)
COMMUNE_FLAGS = {
    "20449": (1, 1, 0, 1), "20455": (1, 1, 0, 0), "20458": (1, 1, 0, 1), "20464": (1, 1, 0, 1),
    "20701": (1, 1, 0, 1), "20707": (1, 1, 1, 1), "20710": (1, 1, 0, 1),
    "20476": (1, 1, 0, 1), "20482": (1, 1, 0, 1), "20488": (1, 1, 0, 1), "20494": (1, 1, 0, 1),
}


def b(x):
    return "true" if x else "false"


def main():
    rows = list(csv.DictReader(open(os.path.join(REF, "communes-2025-01-04-quang-nam-da-nang.csv"),
                                    encoding="utf-8")))
    out = [["code", "name", "level", "parent_code", "ethnic_minority", "mountainous", "border",
            "especially_difficult", "valid_from", "valid_to"]]
    seen = set()
    for r in rows:
        if r["province_code"] not in seen:
            seen.add(r["province_code"])
            out.append([r["province_code"], r["province_name"], "province", ""] + ["false"] * 4
                       + ["", ""])
    for r in rows:
        if r["district_code"] not in seen:
            seen.add(r["district_code"])
            f = DISTRICT_FLAGS.get(r["district_code"], (0, 0, 0, 0))
            out.append([r["district_code"], r["district_name"], "district", r["province_code"]]
                       + [b(x) for x in f] + ["", ""])
    for r in rows:
        if not r["code"]:  # huyện Hoàng Sa: a district with no communes
            continue
        f = COMMUNE_FLAGS.get(r["code"], DISTRICT_FLAGS.get(r["district_code"], (0, 0, 0, 0)))
        out.append([r["code"], r["name"], LEVEL[r["level"]], r["district_code"]]
                   + [b(x) for x in f] + ["", ""])
    with open(os.path.join(HERE, "localities.csv"), "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(out)


if __name__ == "__main__":
    main()
