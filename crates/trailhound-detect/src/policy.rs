//! Who an S3 bucket change opens the bucket to, read from the CloudTrail request.
//!
//! GuardDuty's `Policy:S3/BucketAnonymousAccessGranted` and `BucketPublicAccessGranted` come from
//! reasoning over the new policy or ACL. trailhound reads the request the same way a reviewer
//! would: a bucket policy statement that allows `Principal: "*"` (or `{"AWS": "*"}`) with no
//! condition that narrows who may call (source IP, VPC, VPC endpoint, organisation, account,
//! principal ARN) opens the bucket to anyone; an ACL grant or canned ACL for the `AllUsers`
//! group does too; one for `AuthenticatedUsers` (or `authenticated-read`) opens it to every AWS
//! account. The computed CloudTrail field `bucket_exposure` carries the answer
//! (`anonymous`, `authenticated-users`, or nothing).
//!
//! The same statement test covers the resource policies of other services that can be made
//! public (ECR repositories, KMS keys, SQS queues, SNS topics, Secrets Manager secrets,
//! OpenSearch domains, EFS file systems, Backup vaults, Glacier vaults, CloudWatch Logs, Lambda
//! layers are elsewhere): the computed field `resource_exposure` is `anonymous` when such a
//! request installs a policy that lets anyone call.

use serde_json::Value;

/// How far a bucket change opens the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exposure {
    /// Every AWS account's authenticated principals.
    AuthenticatedUsers,
    /// Anyone on the internet.
    Anonymous,
}

impl Exposure {
    /// The value rules see.
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::AuthenticatedUsers => "authenticated-users",
            Exposure::Anonymous => "anonymous",
        }
    }
}

/// Condition keys that restrict who can use a statement.
const NARROWING: &[&str] = &[
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:principalarn",
    "aws:userid",
    "aws:username",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
];

fn is_star_principal(p: &Value) -> bool {
    match p {
        Value::String(s) => s == "*",
        Value::Object(m) => m.get("AWS").is_some_and(|a| match a {
            Value::String(s) => s == "*",
            Value::Array(v) => v.iter().any(|x| x.as_str() == Some("*")),
            _ => false,
        }),
        _ => false,
    }
}

fn narrows(cond: Option<&Value>) -> bool {
    let Some(Value::Object(ops)) = cond else {
        return false;
    };
    ops.values().any(|keys| {
        keys.as_object().is_some_and(|k| {
            k.keys()
                .any(|key| NARROWING.contains(&key.to_ascii_lowercase().as_str()))
        })
    })
}

/// The exposure a bucket policy document grants.
pub fn policy_exposure(policy: &Value) -> Option<Exposure> {
    let policy = match policy {
        Value::String(s) => &serde_json::from_str::<Value>(s).ok()?,
        v => v,
    };
    let statements = match policy.get("Statement")? {
        Value::Array(v) => v.iter().collect::<Vec<_>>(),
        v => vec![v],
    };
    statements
        .into_iter()
        .any(|st| {
            st.get("Effect").and_then(Value::as_str) == Some("Allow")
                && st.get("Principal").is_some_and(is_star_principal)
                && !narrows(st.get("Condition"))
        })
        .then_some(Exposure::Anonymous)
}

fn uri_exposure(text: &str) -> Option<Exposure> {
    if text.contains("/global/AllUsers") {
        Some(Exposure::Anonymous)
    } else if text.contains("/global/AuthenticatedUsers") {
        Some(Exposure::AuthenticatedUsers)
    } else {
        None
    }
}

fn walk_strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| walk_strings(x, out)),
        _ => {}
    }
}

/// The exposure a `PutBucketPolicy`, `PutBucketAcl` or `CreateBucket` request grants, from its
/// `requestParameters` (JSON text).
pub fn request_exposure(event_name: &str, request_parameters: &str) -> Option<Exposure> {
    // Parsed only for the calls that can grant access: this runs on every record a rule on
    // `bucket_exposure` sees.
    let parse = || serde_json::from_str::<Value>(request_parameters).ok();
    match event_name {
        "PutBucketPolicy" => policy_exposure(parse()?.get("bucketPolicy")?),
        "PutBucketAcl" | "CreateBucket" | "PutObjectAcl" => {
            let rp = parse()?;
            let mut best = match rp.get("x-amz-acl").and_then(|v| match v {
                Value::Array(a) => a.first().and_then(Value::as_str),
                v => v.as_str(),
            }) {
                Some("public-read" | "public-read-write") => Some(Exposure::Anonymous),
                Some("authenticated-read") => Some(Exposure::AuthenticatedUsers),
                _ => None,
            };
            let mut strings = Vec::new();
            walk_strings(&rp, &mut strings);
            for s in strings {
                best = best.max(uri_exposure(s));
            }
            best
        }
        _ => None,
    }
}

/// Where a service's request carries the resource policy it installs: paths of members under
/// `requestParameters`, the first present one wins.
fn resource_policy_paths(event_name: &str) -> Option<&'static [&'static [&'static str]]> {
    Some(match event_name {
        // ECR
        "SetRepositoryPolicy" => &[&["policyText"]],
        // OpenSearch / Elasticsearch
        "CreateElasticsearchDomain"
        | "UpdateElasticsearchDomainConfig"
        | "CreateDomain"
        | "UpdateDomainConfig" => &[&["accessPolicies"]],
        // KMS, EFS, Backup
        "PutKeyPolicy" | "CreateKey" | "PutFileSystemPolicy" | "PutBackupVaultAccessPolicy" => {
            &[&["policy"]]
        }
        // SQS, SNS (create)
        "SetQueueAttributes" | "CreateQueue" | "CreateTopic" => &[&["attributes", "Policy"]],
        // SNS (set; only when the attribute set is `Policy`, checked below)
        "SetTopicAttributes" => &[&["attributeValue"]],
        // Secrets Manager; CloudWatch Logs and DynamoDB
        "PutResourcePolicy" => &[&["resourcePolicy"], &["policyDocument"]],
        // Glacier
        "SetVaultAccessPolicy" => &[&["policy", "policy"]],
        _ => return None,
    })
}

/// The exposure a request that installs a resource policy (not S3's; see [`request_exposure`])
/// grants, from its `requestParameters` (JSON text). Other calls return at once, without
/// parsing: this runs on every CloudTrail record a rule on `resource_exposure` sees.
pub fn resource_request_exposure(event_name: &str, request_parameters: &str) -> Option<Exposure> {
    let paths = resource_policy_paths(event_name)?;
    let rp: Value = serde_json::from_str(request_parameters).ok()?;
    if event_name == "SetTopicAttributes" && rp.get("attributeName")?.as_str()? != "Policy" {
        return None;
    }
    let policy = paths
        .iter()
        .find_map(|path| path.iter().try_fold(&rp, |v, k| v.get(k)))?;
    policy_exposure(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_without_narrowing_condition_is_anonymous() {
        let rp = r#"{"bucketName":"b","bucketPolicy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}}"#;
        assert_eq!(
            request_exposure("PutBucketPolicy", rp),
            Some(Exposure::Anonymous)
        );
        let rp = r#"{"bucketPolicy":{"Statement":{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}}"#;
        assert_eq!(
            request_exposure("PutBucketPolicy", rp),
            Some(Exposure::Anonymous)
        );
    }

    #[test]
    fn narrowed_or_named_principals_are_not_public() {
        let rp = r#"{"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-123"}}}]}}"#;
        assert_eq!(request_exposure("PutBucketPolicy", rp), None);
        let rp = r#"{"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject"}]}}"#;
        assert_eq!(request_exposure("PutBucketPolicy", rp), None);
        let rp =
            r#"{"bucketPolicy":{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*"}]}}"#;
        assert_eq!(request_exposure("PutBucketPolicy", rp), None);
    }

    #[test]
    fn resource_policies_of_other_services() {
        let public = r#"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:BatchGetImage\"}]}"#;
        let ecr = format!(r#"{{"repositoryName":"r","policyText":"{public}"}}"#);
        assert_eq!(
            resource_request_exposure("SetRepositoryPolicy", &ecr),
            Some(Exposure::Anonymous)
        );
        let sqs = r#"{"attributes":{"Policy":{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}},{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage"}]}}}"#;
        assert_eq!(
            resource_request_exposure("SetQueueAttributes", sqs),
            Some(Exposure::Anonymous)
        );
        let narrowed = r#"{"resourcePolicy":{"Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}}"#;
        assert_eq!(
            resource_request_exposure("PutResourcePolicy", narrowed),
            None
        );
        let account = r#"{"policy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*"}]}}"#;
        assert_eq!(resource_request_exposure("PutKeyPolicy", account), None);
        assert_eq!(
            resource_request_exposure("SetQueueAttributes", r#"{"attributes":{"Policy":""}}"#),
            None
        );
        let sns_other = r#"{"attributeName":"DisplayName","attributeValue":"*"}"#;
        assert_eq!(
            resource_request_exposure("SetTopicAttributes", sns_other),
            None
        );
    }

    #[test]
    fn acl_grants_and_canned_acls() {
        let rp = r#"{"bucketName":"b","AccessControlPolicy":{"AccessControlList":{"Grant":[{"Grantee":{"xsi:type":"Group","URI":"http://acs.amazonaws.com/groups/global/AllUsers"},"Permission":"READ"}]}}}"#;
        assert_eq!(
            request_exposure("PutBucketAcl", rp),
            Some(Exposure::Anonymous)
        );
        let rp = r#"{"bucketName":"b","x-amz-grant-read":"uri=http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}"#;
        assert_eq!(
            request_exposure("PutBucketAcl", rp),
            Some(Exposure::AuthenticatedUsers)
        );
        let rp = r#"{"bucketName":"b","x-amz-acl":["public-read"]}"#;
        assert_eq!(
            request_exposure("PutBucketAcl", rp),
            Some(Exposure::Anonymous)
        );
        let rp = r#"{"bucketName":"b","x-amz-acl":["private"]}"#;
        assert_eq!(request_exposure("PutBucketAcl", rp), None);
        assert_eq!(request_exposure("PutBucketAcl", "not json"), None);
    }
}
