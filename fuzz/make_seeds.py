#!/usr/bin/env python3
"""Write the committed seed corpora under fuzz/corpus/ (docs/fuzzing.md).

Seeds are real samples: the Proxmox test configurations and CLI fixtures from tests/fixtures,
the shipped policies, and small hand-made files in each format. Fields of one input are
separated by the byte 0xFF (fuzz/src/lib.rs). Run from the repository root; idempotent.
"""
import base64
import hashlib
import hmac
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
SEP = b"\xff"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def join(*fields):
    return SEP.join(f.encode() if isinstance(f, str) else f for f in fields)


fx = ROOT / "tests" / "fixtures"

# user.cfg: Proxmox's own permission test configurations and the CLI/policy fixtures.
for f in sorted((fx / "pve-tests").glob("*.cfg")):
    put("user_cfg", f.name, f.read_bytes())
put("user_cfg", "cli-user.cfg", (fx / "cli" / "pve" / "user.cfg").read_bytes())
put("user_cfg", "eval.cfg", (fx / "policy" / "eval.cfg").read_bytes())

# domains.cfg
put("domains_cfg", "cli.cfg", (fx / "cli" / "pve" / "domains.cfg").read_bytes())
put("domains_cfg", "directories.cfg", """pve: pve
\tcomment Proxmox VE authentication server
\tdefault 1

ldap: corp
\tcomment %C3%BCber%3Acorp
\tbase_dn dc=example,dc=com
\tserver1 ldap1.example.com
\tserver2 ldap2.example.com
\tuser_attr uid
\tcase-sensitive 0
\tmode ldaps
\tverify 1
\tsync-defaults-options scope=users,enable-new=1,remove-vanished=acl;entry
\ttfa type=totp

ad: win
\tdomain example.local
\tserver1 10.0.0.1
\tport 636

pam: pam
\tcomment Linux PAM standard authentication
""")

# priv/shadow.cfg and priv/token.shadow
put("shadow_cfg", "cli.cfg", (fx / "cli" / "pve" / "priv" / "shadow.cfg").read_bytes())
put("shadow_cfg", "two.cfg", "joe:$5$abcdefgh$0123456789012345678901234567890123456789012:\n"
    "ann:$6$saltsalt$" + "a" * 86 + ":\nbad line\n")
salt, digest = "0" * 32, "f" * 64
put("token_shadow", "cli.cfg", join((fx / "cli" / "pve" / "priv" / "token.cfg").read_bytes(),
                                     "joe@pve!monitoring", "11111111-2222-4333-8444-555555555555"))
put("token_shadow", "hashed.cfg", join(
    f"joe@pve!ci sha256${salt}${digest}\n"
    f"root@pam!x sha256${salt}${digest} prev=sha256${salt}${digest}@1700003600\n",
    "joe@pve!ci", "secret"))

# token-options.cfg
put("token_options", "basic.cfg", """token: joe@pve!ci
\tallowed-ips 10.0.0.0/8,192.0.2.7,2001:db8::/32
\trate-limit 10
\trate-burst 20

token: root@pam!monitoring
\tallowed-ips ::ffff:192.0.2.0/120
""")

# priv/tfa.cfg
put("tfa_cfg", "users.json", json.dumps({
    "users": {
        "alice@pve": {
            "totp": [{"id": "totp-1", "description": "phone", "created": 1700000000,
                      "entry": "otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP&digits=6&period=30"}],
            "yubico": [{"id": "yk-1", "description": "key", "created": 1700000000,
                        "enable": False, "entry": "cccccccbcjdh"}],
            "totp-locked": True,
            "tfa-locked-until": 1700009999,
        },
        "bad user": {},
    },
    "challenges": {"alice@pve": {"totp-failures": 3}},
}, indent=2))
put("tfa_cfg", "empty.json", "{}\n")

# datacenter.cfg
put("datacenter_cfg", "webauthn.cfg", join(
    "keyboard: en-us\nwebauthn: rp=aclgate,origin=https://pve.example.test:8006,id=pve.example.test\n"
    "u2f: appid=https://pve.example.test\n", "pve.example.test:8006"))
put("datacenter_cfg", "bad.cfg", join("webauthn: rp=,id\nu2f: origin\n", "h"))

# ticket key ring (also the ring the ticket target signs with)
key = bytes(range(32))
ring = f"current hmac-sha256 1699990000 {base64.b64encode(key).decode()}\n"
put("keyring", "hmac.txt", ring)
put("keyring", "ed25519.txt", "# aclgate ticket signing keys (written by aclgate)\n"
    f"current ed25519 1699990000 {base64.b64encode(key).decode()}\n"
    "previous ed25519 1699900000 O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=\n")

# tickets made with that ring at 1_700_000_000 (0x6553F100)
def ticket(data, aad=None):
    plain = f"PVE:{data}:6553F100"
    msg = plain if aad is None else f"{plain}:{aad}"
    sig = hmac.new(key, msg.encode(), hashlib.sha256).digest()
    return f"{plain}::{base64.b64encode(sig).decode()}"

put("ticket", "root.txt", join(b"\x0a", ticket("root@pam"), "root@pam", "{}"))
put("ticket", "tfa.txt", join(b"\x0a", ticket("!tfa!%7B%22totp%22%3Atrue%7D", "alice@pve"),
                               "alice@pve", '{"totp":true,"webauthn":{"challenge":"x"}}'))
put("ticket", "junk.txt", join(b"\x00", "PVE:a%3Ab@pve:6553F100::AAAA", "a:b@pve", "\u00e9"))

# CSRF tokens
put("csrf", "token.txt", join("6553F100:" + "A" * 43, "root@pam", b"\x0a"))

# policies (TOML) with a request to route: method, path, query, body
policies = ROOT / "policies"
put("policy", "example.toml", join((policies / "example.toml").read_bytes(), "GET",
                                    "/api2/json/nodes/pve1/qemu/100/status/current", "full=1", ""))
access = (policies / "access.toml").read_text()
put("policy", "access.toml", join(access[:6000], "PUT", "/api2/json/access/acl",
                                   "path=/vms/100&roles=PVEVMUser", "users=bob@pve&propagate=1"))

# check expressions (JSON array form)
for i, check in enumerate([
    ["perm", "/vms/{vmid}", ["VM.Audit"]],
    ["perm", "/nodes/{node}", ["Sys.Audit", "Sys.Modify"], "any", 1],
    ["perm", "/storage/{storage}", ["Datastore.Audit"], "require_param", "storage"],
    ["or", ["userid-param", "self"], ["userid-group", ["User.Modify"], "groups_param", "update"]],
    ["and", ["perm-modify", "{path}"], ["userid-param", "Realm.AllocateUser"]],
]):
    put("check_expr", f"check{i}.json", json.dumps(check))

# request paths
for i, p in enumerate(["/api2/json/nodes/pve1/qemu/100/status/current", "/api2/json/access/",
                       "/a%20b/%71emu", "/a/%2e%2e/b", "/a%2Fb", "/%25", "/x;y/..;/z", "/"]):
    put("path", f"path{i}.txt", p)

# credentials: Cookie, Authorization, second Cookie
put("credential", "token.txt", join("", "PVEAPIToken=joe@pve!ci=11111111-2222-4333-8444-555555555555", ""))
put("credential", "cookie.txt", join("lang=en; PVEAuthCookie=" + ticket("root@pam").replace(":", "%3A"), "", ""))
put("credential", "spaces.txt", join("lang=en PVEAuthCookie=x", "PVEAuthCookie y", "PVEAuthCookie z"))

# parameters: content-type selector, query, body, names to read
put("params", "form.txt", join(b"\x02", "vmid=100&_dc=123&a=1;a=2&b", "node=pve1&c=%41+b&d", "a,b,c,d"))
put("params", "json.txt", join(b"\x01", "x=1", '{"vmid":"100","n":5,"o":{"a":1},"l":[1],"z":null}', "vmid,n,o,l,z"))
put("params", "conflict.txt", join(b"\x00", "vmid=101", "", "vmid"))

# lean client framing: flags, transfer-encoding, content-length values, read sizes, body
put("lean_framing", "chunked.txt", join(b"\x00\x05", "chunked", "", b"\x01\x03\x07",
                                        "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: 1\r\n\r\nHTTP/1.1"))
put("lean_framing", "length.txt", join(b"\x00\x05", "", "5\n5", b"\x02", "helloHTTP/1.1 200"))
put("lean_framing", "close.txt", join(b"\x00\x05", "gzip", "", b"\x04", "anything until close"))
put("lean_framing", "head.txt", join(b"\x01\x05", "", "10", b"\x04", ""))
