"""Offline checks of terraform/aws (run by scripts/check-terraform).

- every .tf file parses (python-hcl2);
- every resource / data source / provider block matches its provider's schema:
  aws 6.25 (npm @cdktf/provider-aws 21.22.1), google 6.50 (npm
  @cdktf/provider-google 16.12.1), archive 2.7.1 (npm @cdktf/provider-archive
  11.0.1), with planted mistakes proving the check fails;
- checkov reports no failed check, every skip carries its reason inline;
- structure, evaluated from the configuration (../tests/hcl_eval.py): least
  privilege on both clouds, no key material anywhere, the public URL, the
  runtime and architecture, the credentials file;
- the bootstrap wrapper, run against a fake Parameters and Secrets extension.

Environment: HERMES_TF_INDEX_AWS, HERMES_TF_INDEX (google), HERMES_TF_INDEX_ARCHIVE
= provider schema indexes; HERMES_CHECKOV = checkov. Without them (outside
scripts/check-terraform) those tests are skipped, or fail when CI is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import hcl2
import pytest

HERE = Path(__file__).resolve().parent
AWS_DIR = HERE.parent
sys.path.insert(0, str(AWS_DIR.parent / "tests"))
sys.path.insert(0, str(HERE))
import hcl_eval  # noqa: E402
from hcl_eval import Module, load_tfvars, variable_validations  # noqa: E402
import provider_index  # noqa: E402

TF_FILES = sorted(AWS_DIR.glob("*.tf"))
ACCOUNT = "111122223333"
REGION = "eu-north-1"

SAMPLE = {
    "aws_region": REGION,
    "google_project_id": "hermes-test-1",
    "ingest_topics": [
        "projects/hermes-test-1/topics/events",
        "projects/hermes-test-1/topics/items-realtime",
        "projects/hermes-test-1/topics/hermes-preview",
    ],
    "hermes_config_toml": '[destinations.events]\ntopic = "projects/hermes-test-1/topics/events"\n',
    "secrets_extension_layer_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:1",
}

# What the providers compute, synthesised the way they build it (as hcl_eval
# does for google): account, partition, ARNs.
hcl_eval.FUNCTIONS.setdefault("split", lambda sep, s: s.split(sep))
hcl_eval.FUNCTIONS.setdefault("endswith", lambda s, p: s.endswith(p))
_google_getitem = hcl_eval.Instance.__getitem__


def _getitem(self, attr):
    t, region = self.rtype, None
    if t.startswith("aws_"):
        region = self.module.var("aws_region")
    if t == "aws_caller_identity" and attr == "account_id":
        return ACCOUNT
    if t == "aws_partition" and attr == "partition":
        return "aws"
    if t == "aws_iam_role" and attr == "arn":
        return f"arn:aws:iam::{ACCOUNT}:role/{self.arg('name')}"
    if t == "aws_iam_role" and attr == "id":
        return self.arg("name")
    if t == "aws_secretsmanager_secret" and attr == "arn":
        return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{self.arg('name')}-AbC123"
    if t == "aws_cloudwatch_log_group" and attr == "arn":
        return f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{self.arg('name')}"
    if t == "aws_lambda_layer_version" and attr == "arn":
        return f"arn:aws:lambda:{region}:{ACCOUNT}:layer:{self.arg('layer_name')}:1"
    if t == "aws_lambda_function" and attr == "arn":
        return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{self.arg('function_name')}"
    return _google_getitem(self, attr)


hcl_eval.Instance.__getitem__ = _getitem


def _tool(env_name: str) -> Path:
    value = os.environ.get(env_name)
    if not value or not Path(value).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{env_name} is not set or missing: run scripts/check-terraform")
        pytest.skip(f"{env_name} not set: run scripts/check-terraform")
    return Path(value)


@pytest.fixture(scope="session")
def raw_indexes():
    return {
        name: json.loads(_tool(env).read_text())
        for name, env in (("aws", "HERMES_TF_INDEX_AWS"), ("google", "HERMES_TF_INDEX"), ("archive", "HERMES_TF_INDEX_ARCHIVE"))
    }


@pytest.fixture(scope="session")
def indexes(raw_indexes):
    """The provider indexes plus the few later arguments (provider_index.LATER_ARGUMENTS)."""
    return {name: provider_index.with_later_arguments(name, index) for name, index in raw_indexes.items()}


def module(**values) -> Module:
    return Module(AWS_DIR, {**SAMPLE, **values})


@pytest.fixture
def mod():
    return module()


def policy(m: Module) -> dict:
    return json.loads(m.resource("aws_iam_role_policy.ingest").arg("policy"))


def extension_matches(m: Module) -> bool:
    return m.eval_condition(m.locals["extension_matches"], {})


def env_vars(m: Module) -> dict:
    return m.resource("aws_lambda_function.ingest").block("environment").arg("variables")


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def test_module_has_the_expected_files():
    names = {p.name for p in TF_FILES}
    assert {"versions.tf", "variables.tf", "lambda.tf", "iam.tf", "secrets.tf", "wif.tf", "outputs.tf"} <= names
    for other in ("README.md", "terraform.tfvars.example", "bootstrap.sh"):
        assert (AWS_DIR / other).is_file(), other


@pytest.mark.parametrize("path", TF_FILES + [AWS_DIR / "terraform.tfvars.example"], ids=lambda p: p.name)
def test_every_file_parses(path):
    with open(path) as f:
        assert isinstance(hcl2.load(f), dict)


# ---------------------------------------------------------------------------
# Provider schemas
# ---------------------------------------------------------------------------


def test_indexes_are_the_pinned_providers(indexes):
    assert indexes["aws"]["provider_version"] == "6.25.0"
    assert indexes["google"]["provider_version"] == "6.50.0"
    assert indexes["archive"]["provider_version"] == "2.7.1"
    assert len(indexes["aws"]["resource"]) > 1000
    assert indexes["aws"]["resource"]["aws_lambda_function_url"]["args"]["authorization_type"] is True
    assert "archive_file" in indexes["archive"]["data"]


def test_versions_pin_the_checked_providers():
    tf = hcl2.load(open(AWS_DIR / "versions.tf"))["terraform"][0]
    unq = lambda v: v.strip('"')  # noqa: E731
    assert unq(tf["required_version"]) == ">= 1.5"
    req = tf["required_providers"][0]
    for name, version in (("aws", "~> 6.29"), ("google", "~> 6.50"), ("archive", "~> 2.7")):
        assert (unq(req[name]["source"]), unq(req[name]["version"])) == (f"hashicorp/{name}", version)


def test_later_arguments_are_few_new_and_required_by_versions_tf(raw_indexes):
    req = hcl2.load(open(AWS_DIR / "versions.tf"))["terraform"][0]["required_providers"][0]
    for (provider, kind, tf_type), args in provider_index.LATER_ARGUMENTS.items():
        pinned = re.fullmatch(r"~> (\d+)\.(\d+)", req[provider]["version"].strip('"'))
        for arg, (_, release, _) in args.items():
            assert arg not in raw_indexes[provider][kind][tf_type]["args"], \
                f"{tf_type}.{arg} is in the index now: drop it from LATER_ARGUMENTS"
            major, minor, _ = map(int, release.split("."))
            assert (int(pinned.group(1)), int(pinned.group(2))) >= (major, minor), f"versions.tf must require {provider} {release}"
    assert sum(len(a) for a in provider_index.LATER_ARGUMENTS.values()) <= 3


def test_every_block_matches_the_provider_schemas(indexes):
    result = provider_index.check_module(indexes, AWS_DIR)
    assert not result.problems, "\n".join(map(str, result.problems))
    expected = sum(len(re.findall(r'^(resource|data|provider)\s+"', p.read_text(), re.M)) for p in TF_FILES)
    assert result.checked == expected > 15
    assert set(result.by_provider) == {"aws", "google", "archive"}


PLANTED = {
    "unknown aws argument": (
        'resource "aws_lambda_function" "f" {\n  function_name = "f"\n  role = "r"\n  runtime_version = "x"\n}\n',
        "unknown argument `runtime_version`",
    ),
    "unknown nested aws argument": (
        'resource "aws_lambda_function" "f" {\n  function_name = "f"\n  role = "r"\n'
        '  environment {\n    vars = {}\n  }\n}\n',
        "unknown argument `vars` (did you mean `variables`?)",
    ),
    "aws block written as argument": (
        'resource "aws_lambda_function" "f" {\n  function_name = "f"\n  role = "r"\n  environment = {}\n}\n',
        "`environment` is a block, not an argument",
    ),
    "missing required aws argument": (
        'resource "aws_lambda_function_url" "u" {\n  function_name = "f"\n}\n',
        "required argument `authorization_type` is missing",
    ),
    "unknown aws resource type": (
        'resource "aws_lambda_function_uri" "u" {\n  function_name = "f"\n  authorization_type = "NONE"\n}\n',
        "unknown resource type `aws_lambda_function_uri` in aws provider 6.25.0",
    ),
    "unknown google block": (
        'resource "google_iam_workload_identity_pool_provider" "p" {\n  workload_identity_pool_id = "p"\n'
        '  workload_identity_pool_provider_id = "a"\n  amazon {\n    account_id = "1"\n  }\n}\n',
        "unknown block `amazon`",
    ),
    "unknown archive argument": (
        'data "archive_file" "z" {\n  type = "zip"\n  output_path = "z.zip"\n  output_mode = "0755"\n}\n',
        "unknown argument `output_mode`",
    ),
    "provider without an index": (
        'resource "random_id" "r" {\n  byte_length = 4\n}\n',
        "no schema index for provider `random`",
    ),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_schema_check_catches_planted_mistakes(indexes, case):
    text, expected = PLANTED[case]
    result = provider_index.check_text(indexes, text)
    messages = [str(p) for p in result.problems]
    assert len(messages) == 1 and expected in messages[0], messages


def test_schema_check_catches_a_mistake_planted_in_the_real_module(indexes, tmp_path):
    for p in TF_FILES:
        (tmp_path / p.name).write_text(p.read_text())
    text = (tmp_path / "lambda.tf").read_text()
    (tmp_path / "lambda.tf").write_text(text.replace("authorization_type = ", "auth_type = ", 1))
    result = provider_index.check_module(indexes, tmp_path)
    assert sorted(p.message for p in result.problems) == [
        "required argument `authorization_type` is missing",
        "unknown argument `auth_type` (did you mean `authorization_type`?)",
    ]


# ---------------------------------------------------------------------------
# checkov
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("extras", ["defaults", "every-option"])
def test_checkov_reports_no_failed_check(extras, tmp_path):
    checkov = _tool("HERMES_CHECKOV")
    args = []
    if extras == "every-option":
        var_file = tmp_path / "all.tfvars"
        var_file.write_text(
            'preview_token_enabled = true\narchitecture = "x86_64"\n'
            f'kms_key_arn = "arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"\n'
        )
        args = ["--var-file", str(var_file)]
    proc = subprocess.run(
        [str(checkov), "-d", str(AWS_DIR), "--framework", "terraform", "--skip-download",
         "--compact", "-o", "json", *args],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"},
    )
    assert proc.stdout.strip(), proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed, passed, skipped, parse_errors = [], 0, [], 0
    for r in reports:
        failed += r["results"].get("failed_checks", [])
        skipped += r["results"].get("skipped_checks", [])
        passed += r["summary"]["passed"]
        parse_errors += r["summary"]["parsing_errors"]
    assert parse_errors == 0
    assert not failed, "\n".join(f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in failed)
    assert passed > 0
    assert skipped, "the skips in lambda.tf / secrets.tf were not seen"
    for s in skipped:
        reason = (s.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) >= 20, f"skip of {s['check_id']} on {s['resource']} has no reason"
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_every_checkov_skip_is_inline_with_a_reason():
    for p in TF_FILES:
        for line in p.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.fullmatch(r"\s*#checkov:skip=(CKV2?_[A-Z]+_\d+):(.{20,})", line), f"{p.name}: {line.strip()}"


# ---------------------------------------------------------------------------
# The function
# ---------------------------------------------------------------------------


def test_the_function_runs_provided_al2023_on_the_chosen_architecture(mod):
    f = mod.resource("aws_lambda_function.ingest")
    assert f["runtime"] == "provided.al2023"
    assert f["architectures"] == ["arm64"]
    assert module(architecture="x86_64", secrets_extension_layer_arn=SAMPLE["secrets_extension_layer_arn"].replace("-Arm64", "")) \
        .resource("aws_lambda_function.ingest")["architectures"] == ["x86_64"]
    assert mod.resource("aws_lambda_layer_version.binary")["compatible_architectures"] == ["arm64"]
    assert mod.resource("aws_lambda_layer_version.binary")["compatible_runtimes"] == ["provided.al2023"]
    assert f["layers"] == [f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:hermes-ingest-binary:1", SAMPLE["secrets_extension_layer_arn"]]
    assert f["reserved_concurrent_executions"] >= 1
    assert len(mod.all_instances("aws_lambda_function")) == 1


@pytest.mark.parametrize("value,ok", [("arm64", True), ("x86_64", True), ("amd64", False), ("ARM64", False), ("", False), ("aarch64", False)])
def test_architecture_is_validated(value, ok):
    results = variable_validations(module(architecture=value), "architecture")
    assert results and all(r[0] for r in results) == ok


@pytest.mark.parametrize("arch,arn_suffix,ok", [
    ("arm64", "-Arm64:3", True), ("x86_64", ":3", True), ("arm64", ":3", False), ("x86_64", "-Arm64:3", False),
])
def test_the_extension_layer_must_match_the_architecture(arch, arn_suffix, ok):
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:AWS-Parameters-and-Secrets-Lambda-Extension{arn_suffix}"
    m = module(architecture=arch, secrets_extension_layer_arn=arn)
    assert extension_matches(m) == ok
    assert "local.extension_matches" in (AWS_DIR / "lambda.tf").read_text().split("precondition", 1)[1]


def test_only_ingest_is_public_and_only_through_its_url(mod):
    urls = mod.all_instances("aws_lambda_function_url")
    assert len(urls) == 1
    assert urls[0]["authorization_type"] == "NONE"
    assert urls[0]["function_name"] == mod.resource("aws_lambda_function.ingest")["function_name"] == "hermes-ingest"
    perms = mod.all_instances("aws_lambda_permission")
    found = sorted(
        (p["action"], p["principal"], p.arg("function_url_auth_type") if p.has("function_url_auth_type") else None,
         p.arg("invoked_via_function_url") if p.has("invoked_via_function_url") else None)
        for p in perms
    )
    # InvokeFunction to everyone only through the URL: without the condition,
    # anyone with AWS credentials could invoke the function directly
    assert found == [("lambda:InvokeFunction", "*", None, True), ("lambda:InvokeFunctionUrl", "*", "NONE", None)]
    assert all(p["function_name"] == "hermes-ingest" for p in perms)


def test_the_package_holds_the_wrapper_and_the_credentials_file_and_the_layer_the_binary(mod):
    zips = {inst.name: inst for inst in (mod.instances(k, mod.data) for k in mod.data if k.startswith("archive_file."))}
    sources = {b.arg("filename"): b for b in zips["function"].blocks("source")}
    assert set(sources) == {"bootstrap", "gcp-credentials.json"}
    assert zips["function"]["output_file_mode"] == "0755"
    lambda_tf = (AWS_DIR / "lambda.tf").read_text()
    assert 'content  = file("${path.module}/bootstrap.sh")' in lambda_tf
    assert sources["gcp-credentials.json"].arg("content") == mod.local("google_credentials_json")
    assert zips["binary"]["source_file"] == "./../../target/lambda/hermes-ingest/bootstrap"
    assert env_vars(mod)["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/task/gcp-credentials.json"
    assert os.access(AWS_DIR / "bootstrap.sh", os.X_OK)


def test_the_environment_names_the_secrets_and_holds_no_token(mod):
    env = env_vars(mod)
    assert env == {
        "HERMES_CONFIG_TOML": SAMPLE["hermes_config_toml"],
        "GOOGLE_CLOUD_PROJECT": "hermes-test-1",
        "GOOGLE_APPLICATION_CREDENTIALS": "/var/task/gcp-credentials.json",
        "HERMES_BEARER_TOKEN_SECRET": "hermes-bearer-token",
    }
    preview = env_vars(module(preview_token_enabled=True))
    assert preview["HERMES_PREVIEW_BEARER_TOKEN_SECRET"] == "hermes-preview-bearer-token"
    assert not any(k.endswith("TOKEN") for k in preview)


# ---------------------------------------------------------------------------
# Least privilege, AWS
# ---------------------------------------------------------------------------


def test_the_role_is_for_lambda_only(mod):
    roles = mod.all_instances("aws_iam_role")
    assert len(roles) == 1
    trust = json.loads(roles[0]["assume_role_policy"])
    assert trust["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert not roles[0].has("managed_policy_arns")
    for rtype in ("aws_iam_role_policy_attachment", "aws_iam_policy", "aws_iam_policy_attachment",
                  "aws_iam_role_policies_exclusive", "aws_iam_role_policy_attachments_exclusive"):
        assert not mod.all_instances(rtype), rtype
    assert len(mod.all_instances("aws_iam_role_policy")) == 1


@pytest.mark.parametrize("preview", [False, True])
def test_the_role_may_only_write_its_logs_and_read_its_token_secrets(preview):
    m = module(preview_token_enabled=preview)
    statements = policy(m)["Statement"]
    names = ["hermes-bearer-token"] + (["hermes-preview-bearer-token"] if preview else [])
    secret_arns = [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{n}-AbC123" for n in sorted(names)]
    assert {s["Sid"]: (s["Effect"], s["Action"], s["Resource"]) for s in statements} == {
        "Logs": ("Allow", ["logs:CreateLogStream", "logs:PutLogEvents"],
                 [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/hermes-ingest:*"]),
        "BearerTokens": ("Allow", ["secretsmanager:GetSecretValue"], sorted(secret_arns)),
    }
    assert sorted(i.arg("name") for i in m.all_instances("aws_secretsmanager_secret")) == sorted(names)


def test_a_kms_key_adds_decrypt_through_secrets_manager_only():
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    statements = {s["Sid"]: s for s in policy(module(kms_key_arn=key))["Statement"]}
    assert set(statements) == {"Logs", "BearerTokens", "DecryptTokensThroughSecretsManager"}
    kms = statements["DecryptTokensThroughSecretsManager"]
    assert (kms["Action"], kms["Resource"]) == (["kms:Decrypt"], [key])
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}


def test_no_policy_has_a_wildcard():
    for preview in (False, True):
        for s in policy(module(preview_token_enabled=preview))["Statement"]:
            for a in s["Action"]:
                assert "*" not in a, a
            for r in s["Resource"]:
                assert r != "*" and not r.endswith(":*:*"), r


# ---------------------------------------------------------------------------
# Least privilege, Google
# ---------------------------------------------------------------------------

ROLE_SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/hermes-ingest"


def test_the_pool_accepts_only_the_lambda_role_of_the_account(mod):
    p = mod.resource("google_iam_workload_identity_pool_provider.aws")
    assert p.block("aws").arg("account_id") == ACCOUNT
    assert not p.blocks("oidc") and not p.blocks("saml")
    assert p["attribute_condition"] == f"assertion.account == '{ACCOUNT}' && attribute.aws_role == '{ROLE_SESSION_ARN}'"
    assert p["attribute_mapping"]["google.subject"] == "assertion.arn"
    assert "assumed-role/{role_name}/" in p["attribute_mapping"]["attribute.aws_role"]
    assert module(function_name="other").resource("google_iam_workload_identity_pool_provider.aws")["attribute_condition"] \
        .endswith("assumed-role/other'")
    assert len(mod.all_instances("google_iam_workload_identity_pool_provider")) == 1


def test_exactly_the_role_may_impersonate_the_publisher(mod):
    grants = mod.all_instances("google_service_account_iam_member")
    assert len(grants) == 1
    g = grants[0]
    sa = mod.resource("google_service_account.publisher")
    assert g["service_account_id"] == sa["name"]
    assert g["role"] == "roles/iam.workloadIdentityUser"
    assert g["member"] == (
        "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/"
        f"hermes-aws/attribute.aws_role/{ROLE_SESSION_ARN}"
    )
    for rtype in ("google_service_account_iam_binding", "google_service_account_iam_policy"):
        assert not mod.all_instances(rtype), rtype


def test_the_publisher_may_only_publish_to_the_ingest_topics(mod):
    sa = mod.resource("google_service_account.publisher")
    grants = mod.all_instances("google_pubsub_topic_iam_member")
    assert sorted(g["topic"] for g in grants) == sorted(SAMPLE["ingest_topics"])
    assert {(g["role"], g["member"], g["project"]) for g in grants} == {
        ("roles/pubsub.publisher", sa["member"], "hermes-test-1")
    }
    text = "\n".join(p.read_text() for p in TF_FILES)
    iam_types = set(re.findall(r'resource\s+"(google_\w*iam\w*)"', text))
    assert iam_types == {"google_pubsub_topic_iam_member", "google_service_account_iam_member",
                         "google_iam_workload_identity_pool", "google_iam_workload_identity_pool_provider"}


def test_the_credentials_file_federates_and_impersonates(mod):
    creds = json.loads(mod.local("google_credentials_json"))
    assert creds == {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/hermes-aws/providers/aws-lambda",
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                                             "hermes-aws-ingest@hermes-test-1.iam.gserviceaccount.com:generateAccessToken",
        "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        },
    }


# ---------------------------------------------------------------------------
# No key material
# ---------------------------------------------------------------------------

FORBIDDEN_TYPES = {
    "google_service_account_key", "aws_iam_access_key", "aws_iam_user", "aws_iam_user_login_profile",
    "aws_secretsmanager_secret_version", "google_secret_manager_secret_version", "tls_private_key",
    "aws_iam_service_specific_credential", "aws_ssm_parameter", "local_file", "local_sensitive_file",
}


def test_no_key_material_anywhere(mod):
    files = TF_FILES + [AWS_DIR / "terraform.tfvars.example", AWS_DIR / "bootstrap.sh"]
    for p in files:
        text = p.read_text()
        for t in re.findall(r'(?:resource|data)\s+"(\w+)"', text):
            assert t not in FORBIDDEN_TYPES, f"{p.name}: {t}"
        for pattern in (r"secret_string", r"secret_binary", r"private_key", r"BEGIN [A-Z ]*PRIVATE KEY",
                        r"\bAKIA[0-9A-Z]{16}\b", r"\baccess_key\s*=", r"\bsecret_key\s*=", r"\btoken\s*=",
                        r"credentials\s*=", r"sensitive\s*=\s*false"):
            assert not re.search(pattern, text), f"{p.name}: {pattern}"
    creds = mod.local("google_credentials_json")
    assert "private_key" not in creds and '"type":"external_account"' in creds
    assert not any("sensitive" in spec for spec in mod.variables.values())


# ---------------------------------------------------------------------------
# Variables
# ---------------------------------------------------------------------------


def test_every_variable_has_a_description_and_a_type(mod):
    for name, spec in mod.variables.items():
        assert "description" in spec and "type" in spec, name
        assert len(mod.eval(spec["description"], {})) > 20, name


def test_validations_accept_the_example_tfvars():
    values = load_tfvars(AWS_DIR / "terraform.tfvars.example", module())
    m = Module(AWS_DIR, values)
    for name in m.variables:
        for ok, msg in variable_validations(m, name):
            assert ok, f"{name}: {msg}"
    assert extension_matches(m)


@pytest.mark.parametrize("name,value", [
    ("aws_region", "Europe"),
    ("google_project_id", "123456789012"),
    ("ingest_topics", []),
    ("ingest_topics", ["events"]),
    ("hermes_config_toml", "  "),
    ("secrets_extension_layer_arn", f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:my-layer:1"),
    ("function_name", "hermes ingest"),
    ("kms_key_arn", "alias/aws/secretsmanager"),
    ("memory_size", 64),
    ("timeout_seconds", 901),
    ("reserved_concurrency", 0),
    ("log_retention_days", 10),
    ("workload_identity_pool_id", "gcp-hermes"),
    ("publisher_account_id", "1abc"),
    ("secret_name_prefix", "a/b"),
])
def test_validations_refuse_bad_values(name, value):
    results = variable_validations(module(**{name: value}), name)
    assert results and not all(ok for ok, _ in results), (name, value)


# ---------------------------------------------------------------------------
# The bootstrap wrapper, against a fake Parameters and Secrets extension
# ---------------------------------------------------------------------------

SESSION_TOKEN = "session-token-xyz"


class FakeExtension:
    """Answers GET /secretsmanager/get?secretId=NAME like the extension: 200 with
    the secret's JSON, 400 with "not ready" for the first `not_ready` requests,
    400 for an unknown secret, 401 without the session token."""

    def __init__(self, secrets: dict[str, str], not_ready: int = 0):
        self.secrets, self.not_ready, self.requests = secrets, not_ready, []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.requests.append(self.path)
                if fake.not_ready > 0:
                    fake.not_ready -= 1
                    return self._send(400, b"not ready to serve traffic, please wait")
                if self.headers.get("X-Aws-Parameters-Secrets-Token") != SESSION_TOKEN:
                    return self._send(401, b"unauthorized")
                m = re.fullmatch(r"/secretsmanager/get\?secretId=([^&]+)", self.path)
                if not m or m.group(1) not in fake.secrets:
                    return self._send(400, b'{"__type":"ResourceNotFoundException"}')
                body = json.dumps({"ARN": "arn:x", "Name": m.group(1), "SecretString": fake.secrets[m.group(1)],
                                   "VersionStages": ["AWSCURRENT"]}).encode()
                self._send(200, body)

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_bootstrap(tmp_path, port, secret_vars, attempts=20):
    if not shutil.which("bash"):
        pytest.skip("bash is needed to run bootstrap.sh")
    dump = tmp_path / "env.json"
    fake_binary = tmp_path / "hermes-ingest"
    fake_binary.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import json,os,sys; json.dump(dict(os.environ, ARGV=sys.argv[1:]), open(\"{dump}\",\"w\"))' \"$@\"\n")
    fake_binary.chmod(0o755)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_SESSION_TOKEN": SESSION_TOKEN,
           "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(port), "HERMES_BINARY": str(fake_binary),
           "HERMES_SECRET_ATTEMPTS": str(attempts), "HERMES_CONFIG_TOML": "[x]\nHERMES_FAKE_BEARER_TOKEN_SECRET=nope\n",
           **secret_vars}
    proc = subprocess.run(["bash", str(AWS_DIR / "bootstrap.sh"), "arg1"], env=env, capture_output=True, text=True, timeout=60)
    seen = json.loads(dump.read_text()) if dump.exists() else None
    return proc, seen


def test_bootstrap_exports_the_tokens_and_execs_the_binary(tmp_path):
    ext = FakeExtension({"hermes-bearer-token": "tok-a,tok-b", "hermes-preview-bearer-token": "prev-1"}, not_ready=2)
    try:
        proc, seen = run_bootstrap(tmp_path, ext.port, {
            "HERMES_BEARER_TOKEN_SECRET": "hermes-bearer-token",
            "HERMES_PREVIEW_BEARER_TOKEN_SECRET": "hermes-preview-bearer-token",
        })
    finally:
        ext.close()
    assert proc.returncode == 0, proc.stderr
    assert seen["HERMES_BEARER_TOKEN"] == "tok-a,tok-b"
    assert seen["HERMES_PREVIEW_BEARER_TOKEN"] == "prev-1"
    assert "HERMES_BEARER_TOKEN_SECRET" not in seen and "HERMES_PREVIEW_BEARER_TOKEN_SECRET" not in seen
    assert seen["HERMES_CONFIG_TOML"].startswith("[x]") and seen["ARGV"] == ["arg1"]
    assert ext.requests.count("/secretsmanager/get?secretId=hermes-bearer-token") >= 1
    assert "tok-a" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("secrets,expected", [
    ({}, "does the secret have a value"),
    ({"hermes-bearer-token": 'a"b'}, "no plain SecretString"),
    ({"hermes-bearer-token": "a\\b"}, "no plain SecretString"),
    ({"hermes-bearer-token": ",,"}, "holds no token"),
])
def test_bootstrap_refuses_a_missing_or_unreadable_secret(tmp_path, secrets, expected):
    ext = FakeExtension(secrets)
    try:
        proc, seen = run_bootstrap(tmp_path, ext.port, {"HERMES_BEARER_TOKEN_SECRET": "hermes-bearer-token"})
    finally:
        ext.close()
    assert proc.returncode != 0 and seen is None
    assert expected in proc.stderr, proc.stderr


def test_bootstrap_gives_up_without_the_extension(tmp_path):
    proc, seen = run_bootstrap(tmp_path, free_port(), {"HERMES_BEARER_TOKEN_SECRET": "hermes-bearer-token"}, attempts=3)
    assert proc.returncode != 0 and seen is None
    assert "did not answer" in proc.stderr, proc.stderr


def test_bootstrap_refuses_a_secret_name_it_cannot_put_in_a_query(tmp_path):
    ext = FakeExtension({"a+b": "tok"})
    try:
        proc, seen = run_bootstrap(tmp_path, ext.port, {"HERMES_BEARER_TOKEN_SECRET": "a+b"})
    finally:
        ext.close()
    assert proc.returncode != 0 and seen is None and not ext.requests
    assert "is not one this bootstrap can ask for" in proc.stderr, proc.stderr
