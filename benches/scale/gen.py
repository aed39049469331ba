#!/usr/bin/env python3
"""Generate a large user.cfg for the scale benchmark (benches/scale/run.sh).

The same shape as benches/support/state_gen.rs (the criterion benchmarks' state): users with a
token every fifth user, groups of 20 random members, 200 pools, three custom roles, and ACL
entries spread over the paths a Proxmox cluster uses (half users, 40% groups, 10% tokens).
Deterministic for a given seed. Usage: gen.py USERS GROUPS ENTRIES OUT_FILE [SEED]
"""

import random
import sys

VMS = 20_000
STORAGES = 50
NODES = 16
POOLS = 200
ROLES = ["PVEVMUser", "PVEVMAdmin", "PVEAuditor", "PVEDatastoreUser", "PVEAdmin",
         "NoAccess", "PVEPoolUser", "PVESysAdmin", "Ops", "Backup", "Console"]


def user(u):
    realm = "pam" if u % 10 == 0 else "ldap" if u % 10 == 1 else "pve"
    return f"user{u}@{realm}"


def path(rng):
    k = rng.randrange(20)
    if k == 0:
        return "/"
    if k == 1:
        return "/vms"
    if k == 2:
        return "/storage"
    if k <= 12:
        return f"/vms/{100 + rng.randrange(VMS)}"
    if k <= 14:
        return f"/storage/store{rng.randrange(STORAGES)}"
    if k <= 16:
        return f"/nodes/node{rng.randrange(NODES)}"
    if k == 17:
        return f"/pool/pool{rng.randrange(POOLS)}"
    return f"/sdn/zones/zone{rng.randrange(8)}"


def main():
    users, groups, entries, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 42)
    with open(out, "w", buffering=1 << 20) as f:
        w = f.write
        for u in range(users):
            w(f"user:{user(u)}:1:0:First:Last:u{u}@example.com:::\n")
            if u % 5 == 0:
                w(f"token:{user(u)}!ci:0:{u % 2}::\n")
        w("\n")
        for g in range(groups):
            members = ",".join(user(rng.randrange(users)) for _ in range(20))
            w(f"group:g{g}:{members}::\n")
        w("\n")
        per_pool = VMS // POOLS // 4
        for p in range(POOLS):
            vms = ",".join(str(100 + p * per_pool + i) for i in range(per_pool))
            w(f"pool:pool{p}::{vms}:store{p % STORAGES}:\n")
        w("\n")
        w("role:Backup:Datastore.AllocateSpace,VM.Audit,VM.Backup:\n")
        w("role:Console:VM.Console:\n")
        w("role:Ops:Sys.Audit,VM.Audit,VM.Console,VM.PowerMgmt:\n\n")
        rand = rng.randrange
        for _ in range(entries):
            p = path(rng)
            k = rand(10)
            if k <= 4:
                member = user(rand(users))
            elif k <= 8:
                member = f"@g{rand(groups)}"
            else:
                member = f"{user(rand(users // 5) * 5)}!ci"
            w(f"acl:{min(rand(4), 1)}:{p}:{member}:{ROLES[rand(len(ROLES))]}:\n")


if __name__ == "__main__":
    main()
