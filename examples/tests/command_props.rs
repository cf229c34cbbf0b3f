//! Hostile input never panics, never corrupts: arbitrary JSON decoded into commands,
//! and arbitrary bank and order command sequences (amounts up to and past `Money::MAX`)
//! executed against a `MemoryStore`. Balances stay within [0, MAX], money is conserved,
//! order totals stay within MAX, and every refused command writes nothing.

use chronik_core::{CommandContext, EventStore, ManualClock, MemoryStore, SequentialIds};
use chronik_examples::bank::AccountBalances;
use chronik_examples::orders::CurrentOrders;
use chronik_examples::{
    Bank, BankCommand, Money, Order, OrderCommand, OrderStatus, Orders, TransferStatus,
};
use futures::executor::block_on;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::rc::Rc;

type Store = Rc<MemoryStore>;

fn new_store() -> (Rc<ManualClock>, Store) {
    let clock = Rc::new(ManualClock::new(1_700_000_000_000));
    let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
    (clock, store)
}

const MAX: i64 = Money::MAX.cents();

// ------------------------------------------------------------------ arbitrary JSON

/// Numbers a JS caller can send: small and huge integers, negative ones, floats
/// (including ones past 2^53 and past u64), and the bounds.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        Just(Value::from(MAX)),
        Just(Value::from(MAX + 1)),
        Just(Value::from(u32::MAX)),
        Just(Value::from(u64::from(u32::MAX) + 1)),
        prop_oneof![
            any::<f64>(),
            Just(1e300),
            Just(-0.0),
            Just(0.5),
            Just(9_007_199_254_740_993.0)
        ]
        .prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
    ]
}

/// Strings a JS caller can send, weighted towards amounts and ids.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("90071992547409.91".to_string()),
        Just("90071992547409.92".to_string()),
        Just("92233720368547758.08".to_string()),
        Just("-1".to_string()),
        Just("1e3".to_string()),
        Just("0.00".to_string()),
        Just("".to_string()),
        Just("é€😀".to_string()),
        (0i64..i64::MAX).prop_map(|c| Money::from_cents(c).to_string()),
        "[0-9]{1,30}(\\.[0-9]{0,4})?",
        ".{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("type".to_string()),
        Just("owner".to_string()),
        Just("amount".to_string()),
        Just("initialDeposit".to_string()),
        Just("transferId".to_string()),
        Just("customerId".to_string()),
        Just("productId".to_string()),
        Just("quantity".to_string()),
        Just("unitPrice".to_string()),
        Just("reason".to_string()),
        "[a-zA-Z]{1,8}",
    ]
}

const COMMAND_TYPES: [&str; 16] = [
    "OpenAccount",
    "Deposit",
    "Withdraw",
    "CloseAccount",
    "CreateOrder",
    "AddItem",
    "RemoveItem",
    "UpdateItemQuantity",
    "SubmitOrder",
    "MarkReserved",
    "MarkProcessing",
    "CompleteOrder",
    "CancelOrder",
    "deposit",
    "",
    "Nope",
];

/// Objects shaped like commands: a known (or almost known) `type` and fields of the
/// right names with values of any type.
fn command_like() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(COMMAND_TYPES.to_vec()),
        proptest::collection::btree_map(field_name(), any_json(), 0..5),
    )
        .prop_map(|(t, fields)| {
            let mut map: Map<String, Value> = fields.into_iter().collect();
            map.insert("type".into(), json!(t));
            Value::Object(map)
        })
}

/// `value` wrapped in `levels` arrays and objects, alternating.
fn nested(value: Value, levels: usize) -> Value {
    (0..levels).fold(value, |v, i| {
        if i % 2 == 0 {
            json!([v])
        } else {
            json!({ "amount": v })
        }
    })
}

fn hostile_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => command_like(),
        2 => any_json(),
        // Deep, but within the limits (serde_json parses 128 levels; MAX_DEPTH is 64).
        1 => (command_like(), 0..=chronik_core::MAX_DEPTH - 1).prop_map(|(c, n)| nested(c, n)),
        1 => (command_like(), any_json(), 0..=chronik_core::MAX_DEPTH - 2).prop_map(|(mut c, v, n)| {
            c["amount"] = nested(v, n);
            c
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decoding_any_json_into_commands_never_panics_and_decided_commands_write_only_on_success(
        value in hostile_json()
    ) {
        let text = serde_json::to_string(&value).unwrap();
        let bank = serde_json::from_value::<BankCommand>(value.clone());
        let order = serde_json::from_value::<OrderCommand>(value.clone());
        // Through the parser too, as a JSON string from JS arrives.
        prop_assert_eq!(bank.is_ok(), serde_json::from_str::<BankCommand>(&text).is_ok());
        prop_assert_eq!(order.is_ok(), serde_json::from_str::<OrderCommand>(&text).is_ok());
        let (_, store) = new_store();
        block_on(async {
            if let Ok(command) = bank {
                // Against a fresh and an open account with money in it.
                let bank = Bank::new(Rc::clone(&store));
                bank.execute("a", &BankCommand::OpenAccount {
                    owner: "A".into(),
                    initial_deposit: Some("100".into()),
                    initial_balance: None,
                }, &CommandContext::default()).await.unwrap();
                for id in ["a", "fresh"] {
                    let head = store.head_position().await.unwrap();
                    match bank.execute(id, &command, &CommandContext::default()).await {
                        Ok(account) => {
                            prop_assert!(account.balance >= Money::ZERO);
                            prop_assert!(account.balance <= Money::MAX);
                        }
                        Err(_) => prop_assert_eq!(store.head_position().await.unwrap(), head),
                    }
                }
            }
            if let Ok(command) = order {
                let orders = Orders::new(Rc::clone(&store));
                orders.execute("o", &OrderCommand::CreateOrder {
                    customer_id: "c".into(),
                }, &CommandContext::default()).await.unwrap();
                orders.execute("o", &OrderCommand::AddItem {
                    product_id: "p".into(),
                    product_name: None,
                    quantity: 2,
                    unit_price: "45035996273704.95".into(),
                }, &CommandContext::default()).await.unwrap();
                for id in ["o", "fresh"] {
                    let head = store.head_position().await.unwrap();
                    match orders.execute(id, &command, &CommandContext::default()).await {
                        Ok(order) => check_order(&order)?,
                        Err(_) => prop_assert_eq!(store.head_position().await.unwrap(), head),
                    }
                }
            }
            Ok(())
        })?;
    }
}

// ------------------------------------------------------------------ bank sequences

const ACCOUNTS: usize = 3;

/// Cents as a decimal string: small, near the maximum, at it, and past it (up to
/// `i64::MAX`, which `Display` still renders).
fn amount() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1i64..100_000).prop_map(|c| Money::from_cents(c).to_string()),
        3 => (0i64..1_000).prop_map(|d| Money::from_cents(MAX - d).to_string()),
        2 => (MAX / 4..=MAX).prop_map(|c| Money::from_cents(c).to_string()),
        2 => (1i64..1_000_000).prop_map(|d| Money::from_cents(MAX.saturating_add(d)).to_string()),
        1 => (MAX..=i64::MAX).prop_map(|c| Money::from_cents(c).to_string()),
        1 => text(),
    ]
}

#[derive(Debug, Clone)]
enum BankOp {
    Open(usize, Option<String>),
    Deposit(usize, String),
    Withdraw(usize, String),
    Transfer(usize, usize, String),
    Close(usize),
}

fn bank_op() -> impl Strategy<Value = BankOp> {
    let account = 0..ACCOUNTS;
    prop_oneof![
        2 => (account.clone(), proptest::option::of(amount())).prop_map(|(a, m)| BankOp::Open(a, m)),
        4 => (account.clone(), amount()).prop_map(|(a, m)| BankOp::Deposit(a, m)),
        3 => (account.clone(), amount()).prop_map(|(a, m)| BankOp::Withdraw(a, m)),
        4 => (account.clone(), account.clone(), amount()).prop_map(|(a, b, m)| BankOp::Transfer(a, b, m)),
        1 => account.prop_map(BankOp::Close),
    ]
}

fn account_id(i: usize) -> String {
    format!("acc-{i}")
}

async fn balances(bank: &Bank<Store>) -> Vec<i128> {
    let mut out = Vec::new();
    for i in 0..ACCOUNTS {
        let account = bank.account(&account_id(i)).await.unwrap();
        out.push(account.map_or(0, |a| i128::from(a.balance.cents())));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn bank_commands_keep_balances_within_bounds_conserve_money_and_refusals_write_nothing(
        ops in proptest::collection::vec(bank_op(), 1..40)
    ) {
        let (clock, store) = new_store();
        let bank = Bank::new(Rc::clone(&store));
        block_on(async {
            // Money that came from or went to outside the bank.
            let mut external: i128 = 0;
            for (n, op) in ops.into_iter().enumerate() {
                let before = balances(&bank).await;
                let head = store.head_position().await.unwrap();
                let context = CommandContext::new(format!("cmd-{n}"));
                let (account, command) = match op {
                    BankOp::Open(a, initial_deposit) => (a, BankCommand::OpenAccount {
                        owner: format!("owner {a}"),
                        initial_deposit,
                        initial_balance: None,
                    }),
                    BankOp::Deposit(a, m) => (a, BankCommand::deposit(m)),
                    BankOp::Withdraw(a, m) => (a, BankCommand::withdraw(m)),
                    BankOp::Close(a) => (a, BankCommand::CloseAccount),
                    BankOp::Transfer(from, to, m) => {
                        let result = bank
                            .transfer(&format!("t{n}"), &account_id(from), &account_id(to), &m)
                            .await;
                        let after = balances(&bank).await;
                        prop_assert_eq!(
                            after.iter().sum::<i128>(),
                            before.iter().sum::<i128>(),
                            "a transfer conserves money"
                        );
                        match result {
                            Ok(t) => {
                                prop_assert!(matches!(
                                    t.status,
                                    TransferStatus::Completed
                                        | TransferStatus::Failed
                                        | TransferStatus::Refunded
                                ));
                                if t.status != TransferStatus::Completed {
                                    prop_assert_eq!(&after, &before, "nothing moved");
                                }
                            }
                            // Refused before anything was recorded (amount, same account).
                            Err(_) => prop_assert_eq!(store.head_position().await.unwrap(), head),
                        }
                        check_balances(&after)?;
                        continue;
                    }
                };
                let result = bank.execute(&account_id(account), &command, &context).await;
                let after = balances(&bank).await;
                match result {
                    Ok(state) => {
                        prop_assert_eq!(i128::from(state.balance.cents()), after[account]);
                        external += after[account] - before[account];
                    }
                    Err(_) => {
                        prop_assert_eq!(store.head_position().await.unwrap(), head, "refused: nothing written");
                        prop_assert_eq!(&after, &before);
                    }
                }
                check_balances(&after)?;
                prop_assert_eq!(after.iter().sum::<i128>(), external);
            }
            // The read model agrees and never fails, even when the sum passes MAX.
            let mut model = bank.projection(AccountBalances, Rc::clone(&clock));
            model.catch_up().await.unwrap();
            prop_assert_eq!(model.status(), &chronik_core::ProjectionStatus::CaughtUp);
            let state = model.state();
            for (id, account) in &state.accounts {
                let i: usize = id.trim_start_matches("acc-").parse().unwrap();
                prop_assert_eq!(i128::from(account.balance.cents()), balances(&bank).await[i]);
            }
            let total = balances(&bank).await.iter().sum::<i128>().min(i128::from(MAX));
            prop_assert_eq!(i128::from(state.total.cents()), total);
            Ok(())
        })?;
    }
}

fn check_balances(balances: &[i128]) -> Result<(), TestCaseError> {
    for &b in balances {
        prop_assert!(
            (0..=i128::from(MAX)).contains(&b),
            "balance {} out of bounds",
            b
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ order sequences

const ORDERS: usize = 2;
const PRODUCTS: [&str; 3] = ["p1", "p2", "p3"];

fn quantity() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 1u32..10,
        1 => Just(0),
        2 => Just(u32::MAX),
        2 => u32::MAX / 2..=u32::MAX,
        1 => any::<u32>(),
    ]
}

#[derive(Debug, Clone)]
enum OrderOp {
    Create(usize),
    Add(usize, usize, u32, String),
    Update(usize, usize, u32),
    Remove(usize, usize),
    Submit(usize),
    Cancel(usize),
}

fn order_op() -> impl Strategy<Value = OrderOp> {
    let order = 0..ORDERS;
    let product = 0..PRODUCTS.len();
    prop_oneof![
        2 => order.clone().prop_map(OrderOp::Create),
        6 => (order.clone(), product.clone(), quantity(), amount())
            .prop_map(|(o, p, q, m)| OrderOp::Add(o, p, q, m)),
        3 => (order.clone(), product.clone(), quantity()).prop_map(|(o, p, q)| OrderOp::Update(o, p, q)),
        1 => (order.clone(), product).prop_map(|(o, p)| OrderOp::Remove(o, p)),
        1 => order.clone().prop_map(OrderOp::Submit),
        1 => order.prop_map(OrderOp::Cancel),
    ]
}

fn check_order(order: &Order) -> Result<(), TestCaseError> {
    prop_assert!(
        order.checked_total().is_some(),
        "total past MAX: {:?}",
        order
    );
    prop_assert!(order.total() <= Money::MAX);
    prop_assert!(order.total() >= Money::ZERO);
    for item in &order.items {
        prop_assert!(item.quantity >= 1);
        prop_assert!(item.unit_price > Money::ZERO && item.unit_price <= Money::MAX);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn order_commands_keep_totals_within_bounds_and_refusals_write_nothing(
        ops in proptest::collection::vec(order_op(), 1..40)
    ) {
        let (clock, store) = new_store();
        let orders = Orders::new(Rc::clone(&store));
        block_on(async {
            for (n, op) in ops.into_iter().enumerate() {
                let (order, command) = match op {
                    OrderOp::Create(o) => (o, OrderCommand::CreateOrder {
                        customer_id: format!("cust-{o}"),
                    }),
                    OrderOp::Add(o, p, quantity, unit_price) => (o, OrderCommand::AddItem {
                        product_id: PRODUCTS[p].into(),
                        product_name: None,
                        quantity,
                        unit_price,
                    }),
                    OrderOp::Update(o, p, quantity) => (o, OrderCommand::UpdateItemQuantity {
                        product_id: PRODUCTS[p].into(),
                        quantity,
                    }),
                    OrderOp::Remove(o, p) => (o, OrderCommand::RemoveItem {
                        product_id: PRODUCTS[p].into(),
                    }),
                    OrderOp::Submit(o) => (o, OrderCommand::SubmitOrder),
                    OrderOp::Cancel(o) => (o, OrderCommand::CancelOrder { reason: "r".into() }),
                };
                let id = format!("ord-{order}");
                let before = orders.order(&id).await.unwrap();
                let head = store.head_position().await.unwrap();
                let context = CommandContext::new(format!("cmd-{n}"));
                match orders.execute(&id, &command, &context).await {
                    Ok(state) => {
                        check_order(&state)?;
                        let loaded = orders.order(&id).await.unwrap().unwrap();
                        prop_assert_eq!(&loaded, &state, "what a command returns is what a load rebuilds");
                    }
                    Err(_) => {
                        prop_assert_eq!(store.head_position().await.unwrap(), head, "refused: nothing written");
                        prop_assert_eq!(orders.order(&id).await.unwrap(), before);
                    }
                }
            }
            for o in 0..ORDERS {
                if let Some(order) = orders.order(&format!("ord-{o}")).await.unwrap() {
                    check_order(&order)?;
                    if order.status >= OrderStatus::Submitted && order.status != OrderStatus::Cancelled {
                        prop_assert!(!order.items.is_empty());
                    }
                }
            }
            let mut current = orders.projection(CurrentOrders, Rc::clone(&clock));
            current.catch_up().await.unwrap();
            prop_assert_eq!(current.status(), &chronik_core::ProjectionStatus::CaughtUp);
            for summary in current.state().orders.values() {
                prop_assert!(summary.total <= Money::MAX && summary.total >= Money::ZERO);
            }
            Ok(())
        })?;
    }
}
