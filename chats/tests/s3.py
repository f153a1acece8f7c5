"""The storage settings of the tests that keep files in a bucket of the S3 stand-in (chats/tests/conftest.py)."""


def s3_storages(settings, endpoint, bucket, *, public=False):
    """Store files in `bucket` of the S3 stand-in at `endpoint` (moto's server), with presigned URLs unless `public`."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "region_name": "us-east-1",
                "endpoint_url": endpoint,
                "access_key": "test-key",
                "secret_key": "test-secret",
                "querystring_auth": not public,
                "querystring_expire": 600,
                "file_overwrite": False,
                "signature_version": "s3v4",
            },
        },
    }
