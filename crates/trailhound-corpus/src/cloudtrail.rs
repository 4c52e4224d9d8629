//! Synthetic CloudTrail records with the variety of a real account.
//!
//! Hundreds of API names over 25 services with a Zipf-skewed frequency, every identity type,
//! failed calls, request/response objects of varying size and nesting, IPv4/IPv6/service-name
//! source addresses, and a few JSON escapes, so that parsers meet what real exports contain.

use std::fmt::Write as _;

use crate::rng::Rng;
use trailhound_model::time::format_millis;

/// (event source prefix, API names). Read-only is derived from the verb.
pub const APIS: &[(&str, &[&str])] = &[
    (
        "sts",
        &[
            "AssumeRole",
            "GetCallerIdentity",
            "GetSessionToken",
            "AssumeRoleWithWebIdentity",
            "AssumeRoleWithSAML",
            "GetFederationToken",
            "DecodeAuthorizationMessage",
        ],
    ),
    (
        "ec2",
        &[
            "DescribeInstances",
            "DescribeSecurityGroups",
            "DescribeVolumes",
            "DescribeSnapshots",
            "DescribeImages",
            "DescribeSubnets",
            "DescribeVpcs",
            "DescribeNetworkInterfaces",
            "DescribeRouteTables",
            "DescribeAddresses",
            "DescribeInstanceStatus",
            "DescribeTags",
            "DescribeRegions",
            "DescribeAvailabilityZones",
            "DescribeKeyPairs",
            "DescribeLaunchTemplates",
            "RunInstances",
            "StartInstances",
            "StopInstances",
            "TerminateInstances",
            "CreateTags",
            "DeleteTags",
            "CreateSnapshot",
            "DeleteSnapshot",
            "ModifySnapshotAttribute",
            "CreateSecurityGroup",
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress",
            "CreateVolume",
            "AttachVolume",
            "DetachVolume",
            "ModifyInstanceAttribute",
            "CreateKeyPair",
            "ImportKeyPair",
            "GetConsoleOutput",
            "GetPasswordData",
            "CreateNetworkInterface",
            "AllocateAddress",
            "AssociateAddress",
        ],
    ),
    (
        "s3",
        &[
            "ListBuckets",
            "GetBucketLocation",
            "GetBucketPolicy",
            "GetBucketAcl",
            "GetBucketVersioning",
            "GetBucketEncryption",
            "GetBucketLogging",
            "GetBucketTagging",
            "GetBucketPublicAccessBlock",
            "ListObjects",
            "ListObjectsV2",
            "HeadBucket",
            "CreateBucket",
            "DeleteBucket",
            "PutBucketPolicy",
            "PutBucketAcl",
            "PutBucketLogging",
            "PutBucketTagging",
            "PutBucketVersioning",
            "PutBucketPublicAccessBlock",
            "DeleteBucketPolicy",
            "PutBucketEncryption",
            "PutBucketLifecycle",
        ],
    ),
    (
        "iam",
        &[
            "GetUser",
            "ListUsers",
            "ListRoles",
            "GetRole",
            "ListPolicies",
            "GetPolicy",
            "GetPolicyVersion",
            "ListAttachedRolePolicies",
            "ListAttachedUserPolicies",
            "ListGroups",
            "ListGroupsForUser",
            "ListAccessKeys",
            "GetAccountPasswordPolicy",
            "GetAccountSummary",
            "ListMFADevices",
            "ListInstanceProfiles",
            "CreateUser",
            "DeleteUser",
            "CreateRole",
            "DeleteRole",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "AttachUserPolicy",
            "PutRolePolicy",
            "PutUserPolicy",
            "CreateAccessKey",
            "DeleteAccessKey",
            "UpdateAccessKey",
            "CreateLoginProfile",
            "UpdateLoginProfile",
            "UpdateAssumeRolePolicy",
            "CreatePolicy",
            "CreatePolicyVersion",
            "AddUserToGroup",
            "UpdateAccountPasswordPolicy",
            "PassRole",
            "TagRole",
        ],
    ),
    (
        "lambda",
        &[
            "ListFunctions20150331",
            "GetFunction20150331v2",
            "GetFunctionConfiguration20150331v2",
            "ListVersionsByFunction20150331",
            "ListEventSourceMappings20150331",
            "CreateFunction20150331",
            "UpdateFunctionCode20150331v2",
            "UpdateFunctionConfiguration20150331v2",
            "AddPermission20150331v2",
            "DeleteFunction20150331",
            "PublishLayerVersion20181031",
            "Invoke",
        ],
    ),
    (
        "kms",
        &[
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "DescribeKey",
            "ListKeys",
            "ListAliases",
            "GetKeyPolicy",
            "CreateKey",
            "ScheduleKeyDeletion",
            "DisableKey",
            "PutKeyPolicy",
            "CreateGrant",
        ],
    ),
    (
        "cloudtrail",
        &[
            "DescribeTrails",
            "GetTrailStatus",
            "LookupEvents",
            "ListTrails",
            "GetEventSelectors",
            "StopLogging",
            "StartLogging",
            "DeleteTrail",
            "UpdateTrail",
            "PutEventSelectors",
            "CreateTrail",
        ],
    ),
    (
        "logs",
        &[
            "DescribeLogGroups",
            "DescribeLogStreams",
            "GetLogEvents",
            "FilterLogEvents",
            "CreateLogStream",
            "CreateLogGroup",
            "PutRetentionPolicy",
            "DeleteLogGroup",
            "PutSubscriptionFilter",
        ],
    ),
    (
        "monitoring",
        &[
            "DescribeAlarms",
            "GetMetricData",
            "ListMetrics",
            "PutMetricAlarm",
            "DeleteAlarms",
            "GetMetricStatistics",
        ],
    ),
    (
        "ssm",
        &[
            "GetParameter",
            "GetParameters",
            "GetParametersByPath",
            "DescribeParameters",
            "DescribeInstanceInformation",
            "ListCommands",
            "PutParameter",
            "SendCommand",
            "StartSession",
            "UpdateInstanceInformation",
            "ListAssociations",
            "GetDocument",
        ],
    ),
    (
        "secretsmanager",
        &[
            "GetSecretValue",
            "ListSecrets",
            "DescribeSecret",
            "CreateSecret",
            "PutSecretValue",
            "DeleteSecret",
            "GetResourcePolicy",
        ],
    ),
    (
        "dynamodb",
        &[
            "DescribeTable",
            "ListTables",
            "CreateTable",
            "DeleteTable",
            "UpdateTable",
            "DescribeContinuousBackups",
            "ListTagsOfResource",
        ],
    ),
    (
        "rds",
        &[
            "DescribeDBInstances",
            "DescribeDBClusters",
            "DescribeDBSnapshots",
            "CreateDBSnapshot",
            "ModifyDBSnapshotAttribute",
            "ModifyDBInstance",
            "DeleteDBInstance",
            "DescribeDBParameterGroups",
        ],
    ),
    (
        "sns",
        &[
            "ListTopics",
            "GetTopicAttributes",
            "Publish",
            "CreateTopic",
            "Subscribe",
            "ListSubscriptions",
        ],
    ),
    (
        "sqs",
        &[
            "ListQueues",
            "GetQueueAttributes",
            "CreateQueue",
            "SetQueueAttributes",
            "DeleteQueue",
        ],
    ),
    (
        "elasticloadbalancing",
        &[
            "DescribeLoadBalancers",
            "DescribeTargetGroups",
            "DescribeTargetHealth",
            "DescribeListeners",
            "RegisterTargets",
            "DeregisterTargets",
            "CreateLoadBalancer",
        ],
    ),
    (
        "autoscaling",
        &[
            "DescribeAutoScalingGroups",
            "DescribeScalingActivities",
            "DescribeLaunchConfigurations",
            "UpdateAutoScalingGroup",
            "SetDesiredCapacity",
        ],
    ),
    (
        "ecr",
        &[
            "GetAuthorizationToken",
            "BatchGetImage",
            "GetDownloadUrlForLayer",
            "DescribeRepositories",
            "DescribeImages",
            "PutImage",
            "CreateRepository",
            "BatchCheckLayerAvailability",
        ],
    ),
    (
        "ecs",
        &[
            "DescribeClusters",
            "DescribeServices",
            "DescribeTasks",
            "ListTasks",
            "ListClusters",
            "RunTask",
            "UpdateService",
            "RegisterTaskDefinition",
        ],
    ),
    (
        "eks",
        &[
            "DescribeCluster",
            "ListClusters",
            "ListNodegroups",
            "DescribeNodegroup",
            "CreateCluster",
        ],
    ),
    (
        "guardduty",
        &[
            "ListDetectors",
            "GetDetector",
            "ListFindings",
            "GetFindings",
            "UpdateDetector",
            "DeleteDetector",
            "CreateIPSet",
            "UpdateIPSet",
        ],
    ),
    (
        "config",
        &[
            "DescribeConfigRules",
            "DescribeConfigurationRecorders",
            "DescribeConfigurationRecorderStatus",
            "PutEvaluations",
            "StopConfigurationRecorder",
            "DeleteConfigurationRecorder",
            "DeleteDeliveryChannel",
        ],
    ),
    (
        "organizations",
        &[
            "DescribeOrganization",
            "ListAccounts",
            "ListRoots",
            "DescribeAccount",
            "LeaveOrganization",
        ],
    ),
    (
        "signin",
        &[
            "ConsoleLogin",
            "GetSigninToken",
            "CheckMfa",
            "ExitRole",
            "RenewRole",
        ],
    ),
    (
        "route53",
        &[
            "ListHostedZones",
            "GetHostedZone",
            "ListResourceRecordSets",
            "ChangeResourceRecordSets",
            "GetChange",
        ],
    ),
    (
        "cloudformation",
        &[
            "DescribeStacks",
            "ListStacks",
            "DescribeStackEvents",
            "DescribeStackResources",
            "GetTemplate",
            "CreateStack",
            "UpdateStack",
            "DeleteStack",
        ],
    ),
    (
        "bedrock",
        &[
            "InvokeModel",
            "ListFoundationModels",
            "GetModelInvocationLoggingConfiguration",
            "DeleteModelInvocationLoggingConfiguration",
        ],
    ),
];

/// Calls a clean account makes rarely if ever: disabling logging and defences, weakening
/// policies. The baseline leaves them out so that a clean corpus stays quiet; the attack scenarios
/// inject them on purpose.
pub const SENSITIVE: &[&str] = &[
    "StopLogging",
    "DeleteTrail",
    "UpdateTrail",
    "PutEventSelectors",
    "DeleteDetector",
    "UpdateDetector",
    "CreateIPSet",
    "UpdateIPSet",
    "StopConfigurationRecorder",
    "DeleteConfigurationRecorder",
    "DeleteDeliveryChannel",
    "LeaveOrganization",
    "UpdateAccountPasswordPolicy",
    "ScheduleKeyDeletion",
    "DisableKey",
    "DeleteModelInvocationLoggingConfiguration",
    "PutBucketLogging",
    "PutBucketPublicAccessBlock",
    "DeleteBucketPolicy",
    "PutBucketPolicy",
    "PutBucketAcl",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "UpdateAssumeRolePolicy",
    "AttachUserPolicy",
    "PutUserPolicy",
    "CreateAccessKey",
    "AddPermission20150331v2",
    "ModifySnapshotAttribute",
    "ModifyDBSnapshotAttribute",
    "DeleteLogGroup",
    "GetPasswordData",
    "PublishLayerVersion20181031",
    "SendCommand",
    "StartSession",
    "GetFederationToken",
    "UpdateFunctionCode20150331v2",
    "UpdateFunctionConfiguration20150331v2",
];

/// EC2 address ranges in AWS's published ip-ranges.json, for instance-role calls made from the
/// instance itself.
const EC2_PREFIXES: &[(u8, u8)] = &[(3, 80), (3, 81), (54, 152), (54, 234), (18, 204), (52, 90)];

/// True for API verbs that read.
pub fn is_read_only(api: &str) -> bool {
    [
        "Describe", "List", "Get", "Head", "Lookup", "Check", "Filter", "BatchGet", "Decrypt",
        "Invoke",
    ]
    .iter()
    .any(|p| api.starts_with(p))
}

const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-1",
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
];
const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "console.amazonaws.com",
    "signin.amazonaws.com",
    "AWS Internal",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.6",
    "aws-sdk-java/2.25.16 Linux/5.10.213 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/standard",
    "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.43.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "cloudformation.amazonaws.com",
    "aws-internal/3 aws-sdk-java/1.12.681 Linux/5.10.213-180.891.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard",
];
const ERRORS: &[(&str, &str)] = &[
    (
        "AccessDenied",
        "User: arn:aws:iam::{acct}:user/ci is not authorized to perform this action",
    ),
    (
        "Client.UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    ),
    ("ThrottlingException", "Rate exceeded"),
    (
        "NoSuchEntityException",
        "The role with name deploy cannot be found.",
    ),
    ("ResourceNotFoundException", "Requested resource not found"),
    (
        "InvalidParameterValue",
        "Value (\\\"x\\\") for parameter is invalid",
    ),
];
const USERS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "deploy-bot",
    "ci",
    "dave",
    "erin",
    "terraform",
    "backup",
    "audit",
];
const ROLES: &[&str] = &[
    "OrganizationAccountAccessRole",
    "web-server",
    "batch-worker",
    "lambda-exec",
    "eks-node",
    "AWSReservedSSO_Admin_0123456789abcdef",
    "readonly",
    "deploy",
];

/// Account ids used in corpora.
pub const ACCOUNTS: &[&str] = &["111122223333", "444455556666", "777788889999"];

fn public_ip(r: &mut Rng, out: &mut String) {
    let first = *r.pick(&[
        3u64, 13, 18, 34, 35, 44, 52, 54, 63, 81, 93, 104, 185, 198, 203,
    ]);
    let _ = write!(
        out,
        "{}.{}.{}.{}",
        first,
        r.below(256),
        r.below(256),
        r.range(1, 255)
    );
}

/// An id from a pool of `pool` stable ids (accounts have a bounded set of keys and sessions).
fn pooled_id(r: &mut Rng, prefix: &str, n: usize, pool: u64, out: &mut String) {
    let k = r.below(pool);
    let mut p = Rng::new(&[
        0x6b65_7973,
        k,
        prefix.len() as u64,
        u64::from(prefix.as_bytes()[0]),
    ]);
    id(&mut p, prefix, n, out);
}

fn id(r: &mut Rng, prefix: &str, n: usize, out: &mut String) {
    out.push_str(prefix);
    const U: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for _ in 0..n {
        out.push(U[r.below(32) as usize] as char);
    }
}

fn uuid(r: &mut Rng, out: &mut String) {
    for (i, n) in [8, 4, 4, 4, 12].iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        r.hex(*n, out);
    }
}

/// Writes a random nested JSON object of about `budget` bytes.
fn params(r: &mut Rng, depth: u32, budget: usize, out: &mut String) {
    const KEYS: &[&str] = &[
        "instanceId",
        "bucketName",
        "roleName",
        "policyArn",
        "filter",
        "maxResults",
        "nextToken",
        "tagSpecificationSet",
        "key",
        "value",
        "name",
        "description",
        "includeDeleted",
        "groupId",
        "ipPermissions",
        "cidrIp",
        "fromPort",
        "toPort",
        "items",
        "encryptionContext",
        "keyId",
        "durationSeconds",
        "roleSessionName",
        "host",
        "versionId",
    ];
    out.push('{');
    let n = r.range(1, 6) as usize;
    let start = out.len();
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{}\":", r.pick(KEYS));
        match r.below(if depth < 3 { 7 } else { 5 }) {
            0 => {
                let _ = write!(out, "{}", r.below(100_000));
            }
            1 => out.push_str(if r.chance(0.5) { "true" } else { "false" }),
            2 | 3 => {
                out.push('"');
                let n = r.range(4, 40) as usize;
                r.alnum(n, out);
                out.push('"');
            }
            4 => out.push_str("null"),
            5 => params(r, depth + 1, budget / 2, out),
            _ => {
                out.push('[');
                for j in 0..r.range(1, 4) {
                    if j > 0 {
                        out.push(',');
                    }
                    params(r, depth + 1, budget / 3, out);
                }
                out.push(']');
            }
        }
        if out.len() - start > budget {
            break;
        }
    }
    out.push('}');
}

/// Appends one realistic record (as compact JSON) for `account` at time `t`.
pub fn record(r: &mut Rng, account: &str, t: i64, out: &mut String) {
    let (svc, api) = loop {
        let (svc, apis) = APIS[r.zipf(APIS.len())];
        let api = apis[r.zipf(apis.len())];
        if !SENSITIVE.contains(&api) {
            break (svc, api);
        }
    };
    let region = if svc == "iam" || svc == "signin" || svc == "organizations" {
        "us-east-1"
    } else {
        *r.pick(REGIONS)
    };
    let ro = is_read_only(api);
    out.push_str("{\"eventVersion\":\"1.");
    let picked: &str = r.pick::<&str>(&["08", "09", "10", "11"]);
    out.push_str(picked);
    out.push_str("\",\"userIdentity\":");
    let kind = r.below(100);
    let mut instance_session = false;
    let key_prefix = if kind < 30 { "AKIA" } else { "ASIA" };
    match kind {
        0..=29 => {
            let u = r.pick(USERS);
            out.push_str("{\"type\":\"IAMUser\",\"principalId\":\"");
            id(r, "AIDA", 17, out);
            let _ = write!(
                out,
                "\",\"arn\":\"arn:aws:iam::{account}:user/{u}\",\"accountId\":\"{account}\",\"accessKeyId\":\""
            );
            pooled_id(
                r,
                key_prefix,
                16,
                if key_prefix == "AKIA" { 40 } else { 400 },
                out,
            );
            let _ = write!(out, "\",\"userName\":\"{u}\"");
            if r.chance(0.3) {
                let _ = write!(
                    out,
                    ",\"sessionContext\":{{\"sessionIssuer\":{{}},\"webIdFederationData\":{{}},\"attributes\":{{\"creationDate\":\"{}\",\"mfaAuthenticated\":\"{}\"}}}}",
                    &format_millis(t - 3_600_000)[..19],
                    if r.chance(0.5) { "true" } else { "false" }
                );
            }
            out.push('}');
        }
        30..=79 => {
            let role = r.pick(ROLES);
            instance_session =
                role.contains("web") || role.contains("eks") || role.contains("batch");
            let session = if instance_session {
                let mut s = String::from("i-0");
                r.hex(16, &mut s);
                s
            } else {
                r.pick(USERS).to_string()
            };
            out.push_str("{\"type\":\"AssumedRole\",\"principalId\":\"");
            id(r, "AROA", 17, out);
            let _ = write!(
                out,
                ":{session}\",\"arn\":\"arn:aws:sts::{account}:assumed-role/{role}/{session}\",\"accountId\":\"{account}\",\"accessKeyId\":\""
            );
            pooled_id(r, "ASIA", 16, 400, out);
            out.push_str(
                "\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\",\"principalId\":\"",
            );
            id(r, "AROA", 17, out);
            let _ = write!(
                out,
                "\",\"arn\":\"arn:aws:iam::{account}:role/{role}\",\"accountId\":\"{account}\",\"userName\":\"{role}\"}},\"webIdFederationData\":{{}},\"attributes\":{{\"creationDate\":\"{}\",\"mfaAuthenticated\":\"false\"}}",
                &format_millis(t - 900_000)[..19]
            );
            if session.starts_with("i-") {
                out.push_str(",\"ec2RoleDelivery\":\"2.0\"");
            }
            out.push_str("}}");
        }
        80..=89 => {
            let _ = write!(
                out,
                "{{\"type\":\"AWSService\",\"invokedBy\":\"{}.amazonaws.com\"}}",
                r.pick(&[
                    "ec2",
                    "lambda",
                    "cloudformation",
                    "autoscaling",
                    "config",
                    "elasticloadbalancing"
                ])
            );
        }
        90 => {
            let _ = write!(
                out,
                "{{\"type\":\"Root\",\"principalId\":\"{account}\",\"arn\":\"arn:aws:iam::{account}:root\",\"accountId\":\"{account}\",\"accessKeyId\":\"\"}}"
            );
        }
        91..=92 => {
            let _ = write!(
                out,
                "{{\"type\":\"FederatedUser\",\"principalId\":\"{account}:fed\",\"arn\":\"arn:aws:sts::{account}:federated-user/fed\",\"accountId\":\"{account}\",\"accessKeyId\":\""
            );
            pooled_id(r, "ASIA", 16, 400, out);
            out.push_str("\"}");
        }
        93..=94 => {
            let _ = write!(
                out,
                "{{\"type\":\"AWSAccount\",\"principalId\":\"AROAEXAMPLE:x\",\"accountId\":\"{}\"}}",
                r.pick(ACCOUNTS)
            );
        }
        95..=96 => {
            let _ = write!(
                out,
                "{{\"type\":\"WebIdentityUser\",\"principalId\":\"accounts.google.com:1234:5678\",\"userName\":\"5678\",\"identityProvider\":\"accounts.google.com\"}}"
            );
        }
        97 => {
            let _ = write!(
                out,
                "{{\"type\":\"SAMLUser\",\"principalId\":\"SAMLEXAMPLE:user@example.com\",\"userName\":\"user@example.com\",\"identityProvider\":\"SAMLEXAMPLE\"}}"
            );
        }
        98 => {
            let _ = write!(
                out,
                "{{\"type\":\"IdentityCenterUser\",\"accountId\":\"{account}\",\"onBehalfOf\":{{\"userId\":\"9067-abcd\",\"identityStoreArn\":\"arn:aws:identitystore::{account}:identitystore/d-0000000000\"}},\"credentialId\":\"ABCDEFGH\"}}"
            );
        }
        _ => out.push_str(
            "{\"type\":\"Unknown\",\"principalId\":\"\",\"accountId\":\"ANONYMOUS_PRINCIPAL\"}",
        ),
    }
    let _ = write!(
        out,
        ",\"eventTime\":\"{}Z\",\"eventSource\":\"{svc}.amazonaws.com\",\"eventName\":\"{api}\",\"awsRegion\":\"{region}\",\"sourceIPAddress\":\"",
        &format_millis(t)[..19]
    );
    if instance_session {
        // Instance credentials are used from the instance: an EC2 address inside AWS's ranges.
        let (a, b) = *r.pick(EC2_PREFIXES);
        let _ = write!(out, "{a}.{b}.{}.{}", r.below(256), r.range(1, 255));
    } else {
        match r.below(20) {
            0..=12 => public_ip(r, out),
            13..=14 => {
                let _ = write!(
                    out,
                    "10.{}.{}.{}",
                    r.below(256),
                    r.below(256),
                    r.range(1, 255)
                );
            }
            15 => {
                let _ = write!(
                    out,
                    "2600:1f18:{:x}:{:x}::{:x}",
                    r.below(65536),
                    r.below(65536),
                    r.below(65536)
                );
            }
            16..=18 => {
                let _ = write!(
                    out,
                    "{}.amazonaws.com",
                    r.pick(&["ec2", "lambda", "cloudformation", "autoscaling"])
                );
            }
            _ => out.push_str("AWS Internal"),
        }
    }
    out.push_str("\",\"userAgent\":\"");
    let picked: &str = r.pick::<&str>(AGENTS);
    out.push_str(picked);
    out.push('"');
    let failed = r.chance(0.04);
    if failed {
        let (code, msg) = r.pick(ERRORS);
        let _ = write!(
            out,
            ",\"errorCode\":\"{code}\",\"errorMessage\":\"{}\"",
            msg.replace("{acct}", account)
        );
    }
    out.push_str(",\"requestParameters\":");
    if r.chance(0.15) {
        out.push_str("null");
    } else {
        let budget = [64usize, 200, 600, 2000, 8000][r.zipf(5)];
        params(r, 0, budget, out);
    }
    out.push_str(",\"responseElements\":");
    if ro || failed || r.chance(0.2) {
        out.push_str("null");
    } else {
        let budget = [100usize, 400, 1500, 6000][r.zipf(4)];
        params(r, 0, budget, out);
    }
    if api == "ConsoleLogin" {
        let _ = write!(
            out,
            ",\"additionalEventData\":{{\"LoginTo\":\"https://console.aws.amazon.com/console/home\",\"MobileVersion\":\"No\",\"MFAUsed\":\"{}\"}}",
            if r.chance(0.7) { "Yes" } else { "No" }
        );
    }
    out.push_str(",\"requestID\":\"");
    uuid(r, out);
    out.push_str("\",\"eventID\":\"");
    uuid(r, out);
    let _ = write!(
        out,
        "\",\"readOnly\":{ro},\"eventType\":\"{}\",\"managementEvent\":true,\"recipientAccountId\":\"{account}\"",
        if svc == "signin" {
            "AwsConsoleSignIn"
        } else {
            "AwsApiCall"
        }
    );
    if r.chance(0.3) {
        let _ = write!(
            out,
            ",\"resources\":[{{\"accountId\":\"{account}\",\"type\":\"AWS::{}::Resource\",\"ARN\":\"arn:aws:{svc}:{region}:{account}:thing/",
            svc.to_ascii_uppercase()
        );
        r.alnum(12, out);
        out.push_str("\"}]");
    }
    out.push_str(",\"eventCategory\":\"Management\"");
    if r.chance(0.6) {
        let _ = write!(
            out,
            ",\"tlsDetails\":{{\"tlsVersion\":\"TLSv1.{}\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\"{svc}.{region}.amazonaws.com\"}}",
            r.range(2, 4)
        );
    }
    if r.chance(0.05) {
        out.push_str(",\"sessionCredentialFromConsole\":\"true\"");
    }
    out.push('}');
}
