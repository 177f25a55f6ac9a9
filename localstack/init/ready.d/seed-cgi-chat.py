"""LocalStack ready hook: seeds the `cgi-chat/database` secret.

LocalStack runs it with exec() inside its own Python (host venv or Docker
image), where boto3 is installed. Safe to run again: an existing secret is
updated only if its value differs.
"""

import json
import os

import boto3

SECRET_ID = "cgi-chat/database"
SECRET = {
    "engine": "postgres",
    "host": "db.cgi-chat.internal",
    "port": 5432,
    "username": "cgi_chat_app",
    "password": "seeded-localstack-password",
    "dbname": "cgi_chat",
    "dbInstanceIdentifier": "cgi-chat-db",
}

client = boto3.client(
    "secretsmanager",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or "http://127.0.0.1:4566",
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
value = json.dumps(SECRET)
try:
    client.create_secret(
        Name=SECRET_ID,
        Description="RDS-style credentials for the cgi-chat database (seeded)",
        SecretString=value,
    )
    print(f"seed: created {SECRET_ID}")
except client.exceptions.ResourceExistsException:
    current = client.get_secret_value(SecretId=SECRET_ID).get("SecretString")
    if current is None or json.loads(current) != SECRET:
        client.put_secret_value(SecretId=SECRET_ID, SecretString=value)
        print(f"seed: updated {SECRET_ID}")
    else:
        print(f"seed: {SECRET_ID} already present")
