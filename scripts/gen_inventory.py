#!/usr/bin/env python3
"""Generate a synthetic fleet for benchmarks: N compute instances x 3 schedules each.

The shape is an ARM list response ({"value": [...]}) with the fields Azure returns for a
compute instance (name, id, properties.computeType, properties.properties.{vmSize, state,
schedules.computeStartStop}), mixing cron and recurrence triggers, Windows and IANA zone names,
and the SDK's lowercase enum words. Deterministic for a given seed.

usage: gen_inventory.py N OUT [--seed S]
"""
import json
import random
import sys

ZONES = [
    "Pacific Standard Time", "Eastern Standard Time", "W. Europe Standard Time",
    "GMT Standard Time", "AUS Eastern Standard Time", "India Standard Time",
    "Lord Howe Standard Time", "Chatham Islands Standard Time", "Pacific SA Standard Time",
    "Morocco Standard Time", "UTC", "Europe/Berlin", "America/Chicago", "Asia/Tokyo",
]
SIZES = ["STANDARD_DS3_V2", "STANDARD_NC6S_V3", "STANDARD_NC24ADS_A100_V4", "STANDARD_E4DS_V4"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def cron(action, expr, zone):
    return {"action": action, "status": "Enabled", "triggerType": "Cron",
            "cron": {"expression": expr, "timeZone": zone, "startTime": "2024-01-01T00:00:00"}}


def recurrence(action, freq, hours, minutes, zone, weekdays=None):
    sched = {"hours": hours, "minutes": minutes}
    if weekdays:
        sched["weekDays"] = weekdays
    return {"action": action, "status": "Enabled", "triggerType": "Recurrence",
            "recurrence": {"frequency": freq, "interval": 1, "timeZone": zone,
                           "startTime": "2024-01-01T00:00:00", "schedule": sched}}


def instance(i, rng):
    zone = rng.choice(ZONES)
    start_h, stop_h = rng.randint(6, 10), rng.randint(17, 22)
    kind = i % 3
    if kind == 0:
        schedules = [cron("Start", f"0 {start_h} * * 1-5", zone),
                     cron("Stop", f"{rng.choice([0, 15, 30, 45])} {stop_h} * * *", zone),
                     cron("Stop", "0 2 * * *", zone)]
    elif kind == 1:
        schedules = [recurrence("start", "week", [start_h], [0], zone, rng.sample(DAYS, 3)),
                     recurrence("stop", "day", [stop_h], [30], zone),
                     cron("Stop", "30 23 * * 5", zone)]
    else:
        schedules = [cron("Start", f"30 {start_h} * * MON-FRI", zone),
                     recurrence("Stop", "Day", [stop_h, 23], [0], zone),
                     recurrence("Stop", "Week", [12], [0], zone, ["Saturday"])]
    ws = i // 20
    name = f"ci-{i:06d}"
    return {
        "id": f"/subscriptions/00000000-0000-0000-0000-{ws % 7:012d}/resourceGroups/rg-{ws % 50}"
              f"/providers/Microsoft.MachineLearningServices/workspaces/ws-{ws}/computes/{name}",
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "location": "eastus",
        "properties": {"computeType": "ComputeInstance", "provisioningState": "Succeeded",
                       "properties": {"vmSize": rng.choice(SIZES), "state": "Running",
                                      "schedules": {"computeStartStop": schedules}}},
    }


def main():
    args = sys.argv[1:]
    seed = 7
    if "--seed" in args:
        k = args.index("--seed")
        seed = int(args[k + 1])
        del args[k:k + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    n, out = int(args[0]), args[1]
    rng = random.Random(seed)
    with open(out, "w") as f:
        f.write('{"value":[')
        for i in range(n):
            if i:
                f.write(",")
            json.dump(instance(i, rng), f, separators=(",", ":"))
        f.write("]}\n")


if __name__ == "__main__":
    main()
