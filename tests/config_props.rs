//! Properties of the config reader and writer: no input makes it panic, whatever it reads
//! is valid, and every valid config survives a trip through its query. The valid values
//! are drawn from the parameter table itself, so a new knob is covered without a change.

mod common;

use proptest::prelude::*;
use riglab::config::{Config, PARAMS, ParamKind, ParamSpec};

/// Text of a valid value of one parameter.
fn valid_text(p: &ParamSpec) -> BoxedStrategy<String> {
    match p.kind {
        ParamKind::Float {
            min,
            max,
            min_exclusive,
        } => (min..=max)
            .prop_filter("above an open minimum", move |&x| !min_exclusive || x > min)
            .prop_map(|x| x.to_string())
            .boxed(),
        ParamKind::Int { min, max } => (min..=max).prop_map(|n| n.to_string()).boxed(),
        ParamKind::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        ParamKind::Switch => proptest::sample::select(&["auto", "true", "false", "1", "0"][..])
            .prop_map(str::to_string)
            .boxed(),
        ParamKind::Choice(names) => proptest::sample::select(names)
            .prop_map(str::to_string)
            .boxed(),
        ParamKind::Data => prop_oneof![
            proptest::sample::select(&["mnist", "fashion", "cifar10"][..]).prop_map(str::to_string),
            (
                "[a-z0-9_-]{1,40}",
                proptest::sample::select(&[1usize, 3][..]),
                8..=64usize,
                8..=64usize,
                2..=256usize
            )
                .prop_map(|(n, c, h, w, k)| format!("own:{n}:{c}x{h}x{w}:{k}")),
        ]
        .boxed(),
        ParamKind::Model => prop_oneof![
            proptest::collection::vec(1..=4096usize, 1..=4).prop_map(|w| {
                let w: Vec<String> = w.iter().map(usize::to_string).collect();
                format!("mlp:{}", w.join(","))
            }),
            (1..=4096usize, 1..=4096usize, 1..=4096usize)
                .prop_map(|(a, b, c)| format!("cnn:{a},{b},{c}")),
        ]
        .boxed(),
    }
}

/// A config with every field set to a random valid value, cross-field rules included.
fn valid_config() -> impl Strategy<Value = Config> {
    let texts: Vec<BoxedStrategy<String>> = PARAMS.iter().map(valid_text).collect();
    texts
        .prop_map(|texts| {
            let mut c = Config::default();
            for (p, text) in PARAMS.iter().zip(&texts) {
                p.set(&mut c, text).expect("a valid value");
            }
            c
        })
        .prop_filter("cross-field rules hold", |c| c.validate().is_empty())
}

/// A value that may or may not be valid for some parameter.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-+0-9.eE]{0,8}",
        any::<f64>().prop_map(|x| x.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "(mlp|cnn|rnn)?:?[0-9,]{0,12}",
        "(true|false|1|0|yes|dense|rigl|erk|uniform|cosine|step|dt|mnist|cifar10)",
        "%[0-9A-Fa-f]{0,2}[+&=#?]?",
    ]
}

/// `key=value` pieces with real keys (and a few others), joined into a query.
fn soup() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        9 => proptest::sample::select(PARAMS.iter().map(|p| p.name).collect::<Vec<_>>())
            .prop_map(str::to_string),
        1 => "[a-z_]{0,6}",
    ];
    let sep = proptest::sample::select(vec!["&", "&&", "#", "?", "&#"]);
    proptest::collection::vec((key, any_value(), sep), 0..30).prop_map(|pieces| {
        let mut s = String::new();
        for (k, v, sep) in pieces {
            s.push_str(&format!("{k}={v}{sep}"));
        }
        s
    })
}

proptest! {
    #![proptest_config(common::prop_config(512))]

    #[test]
    fn random_strings_never_panic(s in any::<String>()) {
        let (c, _) = Config::from_query(&s);
        prop_assert!(c.validate().is_empty());
        let _ = Config::parse_strict(&s);
    }

    #[test]
    fn url_shaped_strings_never_panic(s in "[?#&=%+/:a-z0-9._ ]{0,60}") {
        let (c, _) = Config::from_query(&s);
        prop_assert!(c.validate().is_empty());
        let _ = Config::parse_strict(&s);
    }

    #[test]
    fn soups_of_real_keys_give_valid_configs(s in soup()) {
        let (c, errors) = Config::from_query(&s);
        prop_assert!(c.validate().is_empty(), "{s:?} gave {c:?}");
        // What was read writes back to the same config.
        prop_assert_eq!(Config::from_query(&c.to_query()), (c.clone(), vec![]));
        prop_assert_eq!(Config::parse_strict(&s).is_ok(), errors.is_empty());
    }

    #[test]
    fn valid_configs_round_trip(c in valid_config()) {
        prop_assert_eq!(Config::from_query(&c.to_query()), (c.clone(), vec![]));
        prop_assert_eq!(Config::parse_strict(&c.to_query_full()), Ok(c.clone()));
        let url = format!("http://localhost:8080/riglab/#{}", c.to_query());
        prop_assert_eq!(Config::from_query(&url).0, c);
    }
}
