#!/usr/bin/python3
"""JWT test vectors made by an independent implementation, for src/auth's JwtVerifier.

Usage: jwt_vectors.py OUT_DIR

Generates RSA-2048, EC P-256 and EC P-384 keys (python3-cryptography), writes OUT_DIR/jwks.json
(their public JWKs, plus an encryption key that must be skipped) and OUT_DIR/vectors.json: tokens
signed with Debian's python3-jwt (PyJWT 2.6) or assembled by hand for the attacks, each with the
expected outcome at "now" under the options written beside them. PyJWT itself decodes every
token and must agree with the expected outcome, except for the vectors marked "stricter": cases
where imgpipe is deliberately stricter than PyJWT 2.6 (the reason is given). Run by CTest through
run_jwt_vectors.sh, which then runs the auth_test case JwtPyJwtVectorsTest.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ISSUER = "https://login.example/realms/imgpipe"
AUDIENCE = "imgpipe-api"
LEEWAY = 60
ACCEPTED = ["RS256", "RS384", "RS512", "ES256", "ES384"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_of(public_key, kid, use="sig"):
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(
        public_key, rsa.RSAPublicKey) else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(public_key))
    jwk.update({"kid": kid, "use": use})
    return jwk


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: jwt_vectors.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    now = int(time.time())

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p256 = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    kids = {"rsa": "rsa-2048", "p256": "ec-p256", "p384": "ec-p384", "enc": "rsa-enc"}
    jwks = {"keys": [
        jwk_of(rsa_key.public_key(), kids["rsa"]),
        jwk_of(p256.public_key(), kids["p256"]),
        jwk_of(p384.public_key(), kids["p384"]),
        jwk_of(enc_rsa.public_key(), kids["enc"], use="enc"),
    ]}

    def claims(**changes):
        c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "client-42", "iat": now - 5,
             "exp": now + 3600, "scope": "pacs:read jobs:submit"}
        for k, v in changes.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def sign(payload, key, alg, kid):
        headers = {"kid": kid} if kid is not None else {}
        return jwt.encode(payload, key, algorithm=alg, headers=headers)

    def hand_made(header, payload, signature: bytes):
        return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()),
                         b64(signature)])

    vectors = []

    def add(name, token, valid, stricter=None, payload=None):
        v = {"name": name, "token": token, "valid": valid}
        if stricter:
            v["stricter"] = stricter
        if valid:
            v["sub"] = payload.get("sub", "")
            v["exp"] = payload["exp"]
            scopes = payload.get("scope", "").split()
            scp = payload.get("scp", [])
            scopes += scp.split() if isinstance(scp, str) else scp
            v["scopes"] = list(dict.fromkeys(scopes))
        vectors.append(v)

    # Valid tokens, one per algorithm and a few claim shapes.
    for alg, key, kid in [("RS256", rsa_key, kids["rsa"]), ("RS384", rsa_key, kids["rsa"]),
                          ("RS512", rsa_key, kids["rsa"]), ("ES256", p256, kids["p256"]),
                          ("ES384", p384, kids["p384"])]:
        p = claims(scp=["push:listen"])
        add(f"valid_{alg}", sign(p, key, alg, kid), True, payload=p)
    for name, p in [("valid_aud_array", claims(aud=["other", AUDIENCE])),
                    ("valid_exp_within_leeway", claims(exp=now - LEEWAY // 2)),
                    ("valid_nbf_within_leeway", claims(nbf=now + LEEWAY // 2)),
                    ("valid_no_scope_no_sub", claims(scope=None, sub=None)),
                    ("valid_scp_string", claims(scope=None, scp="a b"))]:
        add(name, sign(p, rsa_key, "RS256", kids["rsa"]), True, payload=p)

    # Claims refused.
    for name, p in [("expired", claims(exp=now - 3600)),
                    ("nbf_future", claims(nbf=now + 3600)),
                    ("iat_future", claims(iat=now + 3600)),
                    ("wrong_iss", claims(iss="https://evil.example")),
                    ("missing_iss", claims(iss=None)),
                    ("wrong_aud", claims(aud="someone-else")),
                    ("wrong_aud_array", claims(aud=["a", "b"])),
                    ("missing_aud", claims(aud=None)),
                    ("missing_exp", claims(exp=None)),
                    ("exp_not_a_number", claims(exp="tomorrow"))]:
        add(name, sign(p, rsa_key, "RS256", kids["rsa"]), False)
    add("exp_numeric_string", sign(claims(exp=str(now + 3600)), rsa_key, "RS256", kids["rsa"]),
        False, stricter="RFC 7519 NumericDate is a JSON number; PyJWT 2.6 int()s strings")

    # Signatures and keys refused.
    good = sign(claims(), rsa_key, "RS256", kids["rsa"])
    h, p, s = good.split(".")
    evil = sign(claims(sub="admin"), rsa_key, "RS256", kids["rsa"]).split(".")[1]
    add("tampered_payload", f"{h}.{evil}.{s}", False)
    sig = bytearray(unb64(s))
    sig[10] ^= 0x01
    add("tampered_signature", f"{h}.{p}.{b64(bytes(sig))}", False)
    add("wrong_key_same_kid", sign(claims(), other_rsa, "RS256", kids["rsa"]), False)
    add("unknown_kid", sign(claims(), other_rsa, "RS256", "no-such-key"), False)
    add("enc_key_kid", sign(claims(), enc_rsa, "RS256", kids["enc"]), False,
        stricter="a JWK with \"use\":\"enc\" is skipped; PyJWT 2.6 ignores \"use\"")
    add("no_kid_many_keys", sign(claims(), rsa_key, "RS256", None), False,
        stricter="imgpipe requires a kid when the set holds several keys")
    add("alg_none", hand_made({"alg": "none", "typ": "JWT"}, claims(), b""), False)
    add("alg_none_with_kid", hand_made({"alg": "none", "kid": kids["rsa"]}, claims(), b""), False)
    n_bytes = unb64(jwks["keys"][0]["n"])
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    for secret_name, secret in [("n", n_bytes), ("pem", pem)]:
        header = {"alg": "HS256", "typ": "JWT", "kid": kids["rsa"]}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        add(f"hs256_key_confusion_{secret_name}", f"{signing_input}.{b64(mac)}", False)
    add("es256_on_rsa_kid", sign(claims(), p256, "ES256", kids["rsa"]), False)
    add("rs256_on_ec_kid", sign(claims(), rsa_key, "RS256", kids["p256"]), False)
    add("es384_on_p256_key", sign(claims(), p256, "ES384", kids["p256"]), False,
        stricter="RFC 7518 3.4 pairs ES384 with P-384; PyJWT 2.6 does not check the curve")
    es = sign(claims(), p256, "ES256", kids["p256"])
    eh, ep, esig = es.split(".")
    raw = unb64(esig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    add("es256_der_signature", f"{eh}.{ep}.{b64(der)}", False)
    add("es256_zero_signature", f"{eh}.{ep}.{b64(bytes(64))}", False)

    # Malformed tokens refused.
    lenient = "strict base64url (RFC 7515 section 2); PyJWT 2.6 accepts padding and +/"
    add("padded_base64", good + "=", False, stricter=lenient)
    assert "-" in good or "_" in good
    add("standard_base64_chars", good.replace("-", "+").replace("_", "/"), False,
        stricter=lenient)
    add("two_parts", f"{h}.{p}", False)
    add("four_parts", f"{h}.{p}.{s}.{s}", False)
    add("empty", "", False)
    add("garbage_header", f"{b64(b'{not json')}.{p}.{s}", False)
    big = claims(pad="x" * 20000)
    add("oversize", sign(big, rsa_key, "RS256", kids["rsa"]), False,
        stricter="imgpipe refuses tokens over 16 KiB")

    # PyJWT must agree with every expected outcome it can judge.
    key_set = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    disagreements = []
    for v in vectors:
        if "stricter" in v:
            continue
        try:
            kid = jwt.get_unverified_header(v["token"]).get("kid")
            jwt.decode(v["token"], key_set[kid].key, algorithms=ACCEPTED, audience=AUDIENCE,
                       issuer=ISSUER, leeway=LEEWAY, options={"require": ["exp"]})
            pyjwt_valid = True
        except Exception:  # any refusal: invalid token, unknown kid, unusable key
            pyjwt_valid = False
        if pyjwt_valid != v["valid"]:
            disagreements.append(v["name"])
    if disagreements:
        sys.exit(f"PyJWT disagrees with the expected outcome of: {disagreements}")

    with open(os.path.join(out_dir, "jwks.json"), "w") as f:
        json.dump(jwks, f, indent=1)
    with open(os.path.join(out_dir, "vectors.json"), "w") as f:
        json.dump({"now": now, "issuer": ISSUER, "audience": AUDIENCE, "leeway_s": LEEWAY,
                   "vectors": vectors}, f, indent=1)
    valid = sum(v["valid"] for v in vectors)
    print(f"jwt_vectors: {len(vectors)} vectors ({valid} valid) in {out_dir}")


if __name__ == "__main__":
    main()
