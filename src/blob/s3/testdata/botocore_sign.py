#!/usr/bin/python3
"""Signs S3 requests with botocore's S3SigV4Auth, for sigv4_test.cc's cross-check.

Usage: botocore_sign.py CASES.json
CASES.json is a list of {"method", "host", "path" (raw, not encoded), "query": [[name, value]],
"headers": [[name, value]], "body", "token"}. Prints one Authorization header per case, in order,
signed at 2013-05-24T00:00:00Z with the AWS documentation's example keys in us-east-1.
"""
import datetime
import json
import sys
from unittest import mock

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = datetime.datetime(2013, 5, 24, 0, 0, 0)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    with mock.patch("botocore.auth.datetime") as fake:
        fake.datetime.utcnow.return_value = NOW
        fake.datetime.now.return_value = NOW
        for case in cases:
            # botocore's S3 serializer encodes object keys this way ({Key+} labels).
            url = "http://" + case["host"] + percent_encode(case["path"], safe="/~")
            request = AWSRequest(method=case["method"], url=url,
                                 headers=dict(case["headers"]),
                                 data=case["body"].encode("utf-8"),
                                 params=dict(case["query"]))
            creds = Credentials(ACCESS_KEY, SECRET_KEY, case["token"] or None)
            S3SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
            print(request.headers["Authorization"])


if __name__ == "__main__":
    main()
