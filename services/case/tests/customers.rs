//! Customers and their identities, against a real case service and Postgres.

mod common;

use common::{Harness, Mention, assert_code, assert_invalid, audit};
use earshot_proto::case::v1::{
    Consent, CreateCaseRequest, CreateCustomerRequest, CustomerAttributes, FindCustomerRequest,
    GetCaseRequest, GetCustomerRequest, Identity, LinkIdentityRequest, ListAuditEntriesRequest,
    ListCasesRequest, MergeCustomersRequest, UnlinkIdentityRequest, UpdateCustomerRequest,
};
use earshot_proto::common::v1::Channel;
use tonic::Code;

fn identity(platform: &str, value: &str) -> Identity {
    Identity {
        platform: platform.into(),
        value: value.into(),
    }
}

fn jane() -> CreateCustomerRequest {
    CreateCustomerRequest {
        request_id: "crm-import-1".into(),
        display_name: "Jane Doe".into(),
        crm_external_id: "CRM-0042".into(),
        attributes: Some(CustomerAttributes {
            tier: "gold".into(),
            vip: true,
            followers: 0,
            language: "en".into(),
            consent: Consent::Granted as i32,
        }),
        identities: vec![
            identity("email", "Jane.Doe@Example.com"),
            identity("phone", "+44 20 7946 0018"),
        ],
    }
}

#[tokio::test]
async fn customers_are_created_once_found_by_identity_updated_and_audited() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");

    let created = acme
        .create_customer(jane())
        .await
        .expect("created")
        .into_inner();
    let again = acme
        .create_customer(jane())
        .await
        .expect("idempotent")
        .into_inner();
    assert_eq!(created.customer_id, again.customer_id);
    assert_eq!(created.version, 1);
    let ids: Vec<_> = created
        .identities
        .iter()
        .map(|i| format!("{}:{}", i.platform, i.value))
        .collect();
    assert_eq!(ids, ["email:jane.doe@example.com", "phone:+442079460018"]);

    // The same address written another way finds her.
    let found = acme
        .find_customer(FindCustomerRequest {
            identity: Some(identity("email", " JANE.DOE@example.COM")),
        })
        .await
        .expect("found")
        .into_inner();
    assert_eq!(found.customer_id, created.customer_id);

    let update = |version: i64, tier: &str| UpdateCustomerRequest {
        customer_id: created.customer_id.clone(),
        version,
        display_name: "Jane D.".into(),
        crm_external_id: "CRM-0042".into(),
        attributes: Some(CustomerAttributes {
            tier: tier.into(),
            vip: true,
            followers: 1200,
            language: "en-GB".into(),
            consent: Consent::Denied as i32,
        }),
    };
    let updated = acme
        .update_customer(update(1, "platinum"))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.version, 2);
    let attributes = updated.attributes.expect("attributes");
    assert_eq!(
        (
            attributes.tier.as_str(),
            attributes.followers,
            attributes.consent
        ),
        ("platinum", 1200, Consent::Denied as i32)
    );
    assert_code(
        acme.update_customer(update(1, "bronze")).await,
        Code::Aborted,
    );

    // Another customer cannot take her CRM id nor her identities.
    let other = acme
        .create_customer(CreateCustomerRequest {
            request_id: "crm-import-2".into(),
            display_name: "Tom".into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    assert_code(
        acme.create_customer(CreateCustomerRequest {
            request_id: "crm-import-3".into(),
            crm_external_id: "CRM-0042".into(),
            ..Default::default()
        })
        .await,
        Code::AlreadyExists,
    );
    assert_code(
        acme.link_identity(LinkIdentityRequest {
            customer_id: other.customer_id.clone(),
            version: other.version,
            identity: Some(identity("email", "jane.doe@example.com")),
        })
        .await,
        Code::AlreadyExists,
    );
    // Nothing half-written: Tom is unchanged.
    let tom = acme
        .get_customer(GetCustomerRequest {
            customer_id: other.customer_id.clone(),
        })
        .await
        .expect("tom")
        .into_inner();
    assert_eq!((tom.version, tom.identities.len()), (1, 0));

    let linked = acme
        .link_identity(LinkIdentityRequest {
            customer_id: created.customer_id.clone(),
            version: 2,
            identity: Some(identity("x", "@jane_doe")),
        })
        .await
        .expect("linked")
        .into_inner();
    assert_eq!((linked.version, linked.identities.len()), (3, 3));
    let unlinked = acme
        .unlink_identity(UnlinkIdentityRequest {
            customer_id: created.customer_id.clone(),
            version: 3,
            identity: Some(identity("phone", "+442079460018")),
        })
        .await
        .expect("unlinked")
        .into_inner();
    assert_eq!((unlinked.version, unlinked.identities.len()), (4, 2));
    assert_code(
        acme.unlink_identity(UnlinkIdentityRequest {
            customer_id: created.customer_id.clone(),
            version: 4,
            identity: Some(identity("phone", "+442079460018")),
        })
        .await,
        Code::NotFound,
    );

    let trail = audit(
        &mut acme,
        ListAuditEntriesRequest {
            customer_id: created.customer_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let actions: Vec<_> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "customer.created",
            "customer.updated",
            "customer.identity_linked",
            "customer.identity_unlinked"
        ]
    );
    assert!(trail.iter().all(|e| e.actor == "test-user"));
    assert!(trail[1].before.contains("\"gold\""), "{}", trail[1].before);
    assert!(
        trail[1].after.contains("\"platinum\""),
        "{}",
        trail[1].after
    );

    // Paginated: one entry per page, in order, to the end.
    let mut token = String::new();
    let mut paged = Vec::new();
    loop {
        let page = acme
            .list_audit_entries(ListAuditEntriesRequest {
                customer_id: created.customer_id.clone(),
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        paged.extend(page.entries.into_iter().map(|e| e.entry_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let all: Vec<_> = trail.into_iter().map(|e| e.entry_id).collect();
    assert_eq!(paged, all);
}

#[tokio::test]
async fn mentions_and_api_cases_find_or_create_their_customer() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");

    h.deliver(vec![
        Mention {
            mention_id: "m-1",
            thread: "t-1",
            ..Default::default()
        }
        .event(),
        Mention {
            mention_id: "m-2",
            thread: "t-2",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let cases = acme
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases;
    assert_eq!(cases.len(), 2);
    assert_eq!(
        cases[0].customer_id, cases[1].customer_id,
        "one author, one customer"
    );
    let from_x = acme
        .find_customer(FindCustomerRequest {
            identity: Some(identity("x", "2244994945")),
        })
        .await
        .expect("created from the mention")
        .into_inner();
    assert_eq!(from_x.customer_id, cases[0].customer_id);
    assert_eq!(from_x.attributes.expect("attributes").followers, 812);

    let email = acme
        .create_customer(jane())
        .await
        .expect("created")
        .into_inner();
    let case = acme
        .create_case(CreateCaseRequest {
            request_id: "mail-1".into(),
            channel: Channel::Email as i32,
            subject: "Refund".into(),
            customer_handle: "jane.doe@EXAMPLE.com".into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    assert_eq!(case.customer_id, email.customer_id);
    let case = acme
        .create_case(CreateCaseRequest {
            request_id: "call-1".into(),
            channel: Channel::Phone as i32,
            subject: "Card blocked".into(),
            customer_handle: "+1 (555) 010-9999".into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    let caller = acme
        .find_customer(FindCustomerRequest {
            identity: Some(identity("phone", "+15550109999")),
        })
        .await
        .expect("created for the caller")
        .into_inner();
    assert_eq!(case.customer_id, caller.customer_id);
}

#[tokio::test]
async fn merging_customers_moves_identities_and_cases_and_audits_both() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    // Jane wrote on X (a profile is created for her handle) and by email.
    h.deliver(vec![
        Mention {
            mention_id: "m-1",
            thread: "t-1",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let on_x = acme
        .find_customer(FindCustomerRequest {
            identity: Some(identity("x", "2244994945")),
        })
        .await
        .expect("from the mention")
        .into_inner();
    let known = acme
        .create_customer(jane())
        .await
        .expect("created")
        .into_inner();
    let x_case = acme
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases
        .remove(0);

    let request = MergeCustomersRequest {
        source_customer_id: on_x.customer_id.clone(),
        source_version: on_x.version,
        target_customer_id: known.customer_id.clone(),
        target_version: known.version,
    };
    let merged = acme
        .merge_customers(request.clone())
        .await
        .expect("merged")
        .into_inner();
    assert_eq!(merged.version, known.version + 1);
    let ids: Vec<_> = merged
        .identities
        .iter()
        .map(|i| format!("{}:{}", i.platform, i.value))
        .collect();
    assert!(ids.contains(&"x:2244994945".to_owned()), "{ids:?}");
    assert_eq!(ids.len(), 3);
    assert_eq!(merged.attributes.expect("attributes").followers, 812);

    let moved = acme
        .get_case(GetCaseRequest {
            case_id: x_case.case_id.clone(),
        })
        .await
        .expect("case")
        .into_inner();
    assert_eq!(moved.customer_id, known.customer_id);
    assert_eq!(moved.version, x_case.version + 1);
    let source = acme
        .get_customer(GetCustomerRequest {
            customer_id: on_x.customer_id.clone(),
        })
        .await
        .expect("kept as a pointer")
        .into_inner();
    assert_eq!(source.merged_into_customer_id, known.customer_id);
    assert!(source.identities.is_empty());

    // A later mention from the X account lands with the survivor.
    h.deliver(vec![
        Mention {
            mention_id: "m-2",
            thread: "t-2",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let cases = acme
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases;
    assert!(cases.iter().all(|c| c.customer_id == known.customer_id));

    for (customer, action) in [
        (&on_x.customer_id, "customer.merged_into"),
        (&known.customer_id, "customer.merged_from"),
    ] {
        let trail = audit(
            &mut acme,
            ListAuditEntriesRequest {
                customer_id: customer.clone(),
                ..Default::default()
            },
        )
        .await;
        let entry = trail
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("{action} in {trail:?}"));
        assert!(entry.after.contains("x:2244994945"), "{}", entry.after);
        assert!(entry.after.contains(&x_case.case_id), "{}", entry.after);
    }
    let case_trail = audit(
        &mut acme,
        ListAuditEntriesRequest {
            case_id: x_case.case_id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert!(
        case_trail
            .iter()
            .any(|e| e.action == "case.customer_changed"),
        "{case_trail:?}"
    );

    // A merged profile takes no more changes; merging again is refused.
    assert_code(
        acme.merge_customers(request).await,
        Code::FailedPrecondition,
    );
    assert_code(
        acme.link_identity(LinkIdentityRequest {
            customer_id: on_x.customer_id.clone(),
            version: source.version,
            identity: Some(identity("x", "other")),
        })
        .await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn bad_input_on_every_customer_call_names_the_field() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    assert_invalid(
        acme.create_customer(CreateCustomerRequest {
            request_id: String::new(),
            identities: vec![identity("Not OK", "x"), identity("email", "nope")],
            attributes: Some(CustomerAttributes {
                consent: 42,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await,
        &[
            "request_id",
            "attributes.consent",
            "identities[0].platform",
            "identities[1].value",
        ],
    );
    assert_invalid(
        acme.get_customer(GetCustomerRequest {
            customer_id: "x".into(),
        })
        .await,
        &["customer_id"],
    );
    assert_invalid(
        acme.find_customer(FindCustomerRequest { identity: None })
            .await,
        &["identity"],
    );
    assert_invalid(
        acme.update_customer(UpdateCustomerRequest {
            attributes: Some(CustomerAttributes {
                language: "not a tag".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await,
        &["customer_id", "version", "attributes.language"],
    );
    assert_invalid(
        acme.link_identity(LinkIdentityRequest {
            customer_id: "nope".into(),
            version: 0,
            identity: Some(identity("phone", "call me")),
        })
        .await,
        &["customer_id", "version", "identity.value"],
    );
    assert_invalid(
        acme.unlink_identity(UnlinkIdentityRequest::default()).await,
        &["customer_id", "version", "identity"],
    );
    let same = uuid::Uuid::now_v7().to_string();
    assert_invalid(
        acme.merge_customers(MergeCustomersRequest {
            source_customer_id: same.clone(),
            source_version: 1,
            target_customer_id: same,
            target_version: 0,
        })
        .await,
        &["target_version", "target_customer_id"],
    );
    assert_invalid(
        acme.list_audit_entries(ListAuditEntriesRequest::default())
            .await,
        &["case_id"],
    );
    // Nothing was created by any of it.
    let pool = h.db.pool("cases").await;
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(customers, 0);
}

#[tokio::test]
async fn one_tenant_never_sees_nor_changes_another_tenants_customers() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");
    let theirs = globex
        .create_customer(jane())
        .await
        .expect("created")
        .into_inner();
    // The same request id and identities in another tenant are another customer.
    let mine = acme
        .create_customer(jane())
        .await
        .expect("created")
        .into_inner();
    assert_ne!(mine.customer_id, theirs.customer_id);

    let id = theirs.customer_id.clone();
    assert_code(
        acme.get_customer(GetCustomerRequest {
            customer_id: id.clone(),
        })
        .await,
        Code::NotFound,
    );
    let found = acme
        .find_customer(FindCustomerRequest {
            identity: Some(identity("email", "jane.doe@example.com")),
        })
        .await
        .expect("acme's own Jane")
        .into_inner();
    assert_eq!(found.customer_id, mine.customer_id);
    assert_code(
        acme.update_customer(UpdateCustomerRequest {
            customer_id: id.clone(),
            version: 1,
            ..Default::default()
        })
        .await,
        Code::NotFound,
    );
    assert_code(
        acme.link_identity(LinkIdentityRequest {
            customer_id: id.clone(),
            version: 1,
            identity: Some(identity("x", "intruder")),
        })
        .await,
        Code::NotFound,
    );
    assert_code(
        acme.merge_customers(MergeCustomersRequest {
            source_customer_id: id.clone(),
            source_version: 1,
            target_customer_id: mine.customer_id.clone(),
            target_version: 1,
        })
        .await,
        Code::NotFound,
    );
    assert!(
        audit(
            &mut acme,
            ListAuditEntriesRequest {
                customer_id: id,
                ..Default::default()
            },
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn customers_survive_a_restart_and_keep_collecting_mentions() {
    let mut h = Harness::start().await;
    let mut acme = h.client("acme");
    h.deliver(vec![
        Mention {
            mention_id: "m-1",
            thread: "t-1",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let before = acme
        .find_customer(FindCustomerRequest {
            identity: Some(identity("x", "2244994945")),
        })
        .await
        .expect("created")
        .into_inner();

    h.service.restart().await;

    h.deliver(vec![
        Mention {
            mention_id: "m-2",
            thread: "t-2",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let cases = acme
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases;
    assert_eq!(cases.len(), 2);
    assert!(cases.iter().all(|c| c.customer_id == before.customer_id));
}
