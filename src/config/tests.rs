use super::*;

/// Per parameter: a valid value other than the default, its canonical text, a bad value
/// and words its error must hold. The first test checks this list covers every row.
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "data",
        "cifar10",
        "cifar10",
        "svhn",
        "must be one of: mnist, fashion, cifar10",
    ),
    (
        "model",
        "cnn:16,32,128",
        "cnn:16,32,128",
        "rnn:5",
        "unknown model kind 'rnn'",
    ),
    (
        "augment",
        "false",
        "false",
        "maybe",
        "must be auto, true, false, 1 or 0",
    ),
    (
        "method",
        "set",
        "set",
        "sgd",
        "must be one of: dense, static, set, snfs, rigl, snip, prune",
    ),
    (
        "dist",
        "uniform",
        "uniform",
        "erdos",
        "must be one of: uniform, er, erk",
    ),
    ("sparsity", "0.95", "0.95", "1.2", "is outside [0, 0.999]"),
    (
        "dense_first",
        "1",
        "true",
        "yes",
        "must be auto, true, false, 1 or 0",
    ),
    (
        "dense_last",
        "1",
        "true",
        "2",
        "must be true, false, 1 or 0",
    ),
    ("dt", "50", "50", "0", "is outside [1, 100000]"),
    ("alpha", "0.5", "0.5", "0", "is outside (0, 1]"),
    ("tend", "1", "1", "1.5", "is outside (0, 1]"),
    (
        "drop_schedule",
        "constant",
        "constant",
        "linear",
        "must be one of: cosine, constant",
    ),
    ("first_update", "dt", "dt", "1", "must be one of: 0, dt"),
    ("prune_start", "0.2", "0.2", "-0.1", "is outside [0, 1]"),
    ("prune_end", "0.9", "0.9", "abc", "is not a number"),
    ("prune_every", "10", "10", "1.5", "is not a whole number"),
    ("lr", "0.05", "0.05", "0", "is outside (0, 10]"),
    (
        "lr_schedule",
        "step",
        "step",
        "exp",
        "must be one of: constant, step, cosine",
    ),
    ("momentum", "0", "0", "1", "is outside [0, 0.999]"),
    ("wd", "1e-4", "0.0001", "0.2", "is outside [0, 0.1]"),
    ("batch", "64", "64", "5000", "is outside [1, 4096]"),
    ("steps", "10000", "10000", "-3", "is outside [1, 10000000]"),
    ("eval_every", "100", "100", "0", "is outside [1, 10000000]"),
    (
        "seed",
        "18446744073709551615",
        "18446744073709551615",
        "18446744073709551616",
        "is outside [0, 18446744073709551615]",
    ),
];

#[test]
fn the_table_is_in_the_documented_order_and_the_cases_cover_it() {
    let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
    let cases: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    assert_eq!(names, cases);
    assert_eq!(names.len(), 24);
    for rule in RULES {
        assert!(rule.fields.iter().all(|f| param(f).is_some()), "{rule:?}");
    }
}

#[test]
fn every_default_text_is_the_default_config() {
    let c = Config::default();
    for p in PARAMS {
        assert_eq!(p.get(&c), p.default, "{}", p.name);
        let mut d = Config::default();
        p.set(&mut d, p.default).unwrap();
        assert_eq!(d, c, "{}", p.name);
        assert!(!p.help.is_empty() && !p.label.is_empty(), "{}", p.name);
    }
    assert!(c.validate().is_empty());
    assert_eq!(c.to_query(), "");
    assert_eq!(Config::from_query(""), (c, vec![]));
}

#[test]
fn every_parameter_reads_a_valid_value_and_writes_it_back() {
    for &(name, value, canonical, _, _) in CASES {
        let (c, errors) = Config::from_query(&format!("{name}={value}"));
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(c.get(name).unwrap(), canonical);
        assert_eq!(c.to_query(), format!("{name}={canonical}"));
        assert_eq!(Config::from_query(&c.to_query()), (c, vec![]), "{name}");
    }
}

#[test]
fn every_parameter_reports_a_bad_value_and_keeps_its_default() {
    for &(name, _, _, bad, why) in CASES {
        let (c, errors) = Config::from_query(&format!("{name}={bad}"));
        assert_eq!(c, Config::default(), "{name}");
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        let e = &errors[0];
        assert_eq!((e.key.as_str(), e.value.as_str()), (name, bad));
        let default = param(name).unwrap().default;
        assert!(e.message.contains(why), "{name}: {}", e.message);
        assert!(
            e.message
                .ends_with(&format!("; using the default {default}"))
        );
    }
}

#[test]
fn error_reads_as_one_sentence() {
    let (_, errors) = Config::from_query("sparsity=1.2");
    assert_eq!(
        errors[0].to_string(),
        "sparsity=1.2 is outside [0, 0.999]; using the default 0.9"
    );
    let (_, errors) = Config::from_query("foo=1");
    assert_eq!(
        errors[0].to_string(),
        "foo=1 is ignored: unknown parameter 'foo'"
    );
}

#[test]
fn every_choice_list_names_its_enum_in_order() {
    let enums: [(&str, Vec<&str>); 5] = [
        ("method", Method::ALL.map(Method::name).to_vec()),
        ("dist", Distribution::ALL.map(Distribution::name).to_vec()),
        (
            "drop_schedule",
            DropSchedule::ALL.map(DropSchedule::name).to_vec(),
        ),
        (
            "first_update",
            FirstUpdate::ALL.map(FirstUpdate::name).to_vec(),
        ),
        (
            "lr_schedule",
            LrSchedule::ALL.map(LrSchedule::name).to_vec(),
        ),
    ];
    for (name, names) in enums {
        let ParamKind::Choice(list) = param(name).unwrap().kind else {
            panic!("{name} is not a choice");
        };
        assert_eq!(list, names.as_slice());
        for n in names {
            let mut c = Config::default();
            c.set(name, n).unwrap();
            assert_eq!(c.get(name).unwrap(), n);
        }
    }
    assert_eq!(DataSet::parse("fashion"), Ok(DataSet::Fashion));
    assert_eq!(FirstUpdate::from_name("dt"), Some(FirstUpdate::Dt));
    assert_eq!(LrSchedule::from_name("nope"), None);
}

#[test]
fn data_sets_prepared_and_own() {
    for d in DataSet::ALL {
        let mut c = Config::default();
        c.set("data", &d.name()).unwrap();
        assert_eq!(c.data, d);
    }
    let mut c = Config::default();
    c.set("data", "OWN:pets:3x32x24:5").unwrap();
    assert_eq!(c.get("data").unwrap(), "own:pets:3x32x24:5");
    assert_eq!(c.data.shape(), (crate::data::ImageShape::new(3, 32, 24), 5));
    // The model is built for the own set's shape and classes.
    c.model = crate::model::ModelSpec::default();
    assert!(c.validate().is_empty());
    let bad = [
        ("own:pets", "is not own:NAME"),
        ("own:Pets:1x28x28:5", "lower-case"),
        ("own:pets:2x28x28:5", "1 (grey) or 3 (RGB)"),
        ("own:pets:1x28:5", "not CxHxW"),
        ("own:pets:1x100x28:5", "8 to 64"),
        ("own:pets:1x28x28:1", "2 to 256"),
        ("own:pets:1x28x28:many", "not a whole number"),
        ("imagenet", "own:NAME:CxHxW:CLASSES"),
    ];
    for (text, why) in bad {
        let e = c.clone().set("data", text).unwrap_err();
        assert!(e.contains(why), "{text}: {e}");
    }
    // In a query, a bad value is reported and replaced by the default.
    let (c, errors) = Config::from_query("data=own:x");
    assert_eq!((c.data, errors.len()), (DataSet::Mnist, 1));
}

#[test]
fn lenient_spellings() {
    let (c, errors) = Config::from_query("method=RigL&dense_first=TRUE&sparsity=%200.5%20&dt=+7");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(c.method, Method::Rigl);
    assert_eq!(c.dense_first, Switch::On);
    assert_eq!(c.sparsity, 0.5);
    assert_eq!(c.dt, 7);
    let (c, _) = Config::from_query("momentum=-0");
    assert!(c.momentum.is_sign_positive());
    assert_eq!(c.to_query(), "momentum=0");
}

#[test]
fn whole_urls_with_query_hash_or_both() {
    let (c, e) = Config::from_query("http://localhost:8080/riglab/?sparsity=0.8&dt=50#results");
    assert!(e.is_empty(), "{e:?}");
    assert_eq!((c.sparsity, c.dt), (0.8, 50));

    let (c, e) = Config::from_query("https://host/#method=set&seed=7");
    assert!(e.is_empty(), "{e:?}");
    assert_eq!((c.method, c.seed), (Method::Set, 7));

    // The fragment wins over the query, without a report.
    let (c, e) = Config::from_query("https://host/?seed=3&dt=20#seed=9");
    assert!(e.is_empty(), "{e:?}");
    assert_eq!((c.seed, c.dt), (9, 20));

    let (c, e) = Config::from_query("https://host/path");
    assert_eq!((c, e), (Config::default(), vec![]));
}

#[test]
fn percent_encoding_and_plus() {
    let (c, e) = Config::from_query("?model=cnn%3A8%2C16%2C64&spar%73ity=0%2E7");
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(c.model, ModelSpec::parse("cnn:8,16,64").unwrap());
    assert_eq!(c.sparsity, 0.7);
    let (_, e) = Config::from_query("method=r+i+g+l");
    assert_eq!(e[0].value, "r i g l");
}

#[test]
fn unknown_keys_are_reported_and_ignored() {
    let (c, e) = Config::from_query("foo=1&sparsity=0.5&Sparsity=0.6");
    assert_eq!(c.sparsity, 0.5);
    assert_eq!(e.len(), 2);
    assert!(e[0].message.contains("unknown parameter 'foo'"));
    assert!(e[1].message.contains("unknown parameter 'Sparsity'"));
}

#[test]
fn duplicate_keys_last_wins_and_are_reported() {
    let (c, e) = Config::from_query("dt=10&dt=20&seed=2&dt=30");
    assert_eq!((c.dt, c.seed), (30, 2));
    let shown: Vec<String> = e.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        [
            "dt=10 is overridden by a later dt=20",
            "dt=20 is overridden by a later dt=30"
        ]
    );
    // A bad last value: reported, and the default stays (not the earlier good value).
    let (c, e) = Config::from_query("dt=10&dt=abc");
    assert_eq!(c.dt, 100);
    assert_eq!(e.len(), 2);
}

#[test]
fn degenerate_inputs() {
    for input in ["", "?", "&&&", "?&", "#", "?#", "   "] {
        assert_eq!(
            Config::from_query(input),
            (Config::default(), vec![]),
            "{input:?}"
        );
    }
    let (c, e) = Config::from_query("=");
    assert_eq!(c, Config::default());
    assert_eq!(
        e,
        [ParamError::new("", "", "has no parameter name; ignored")]
    );
    let (c, e) = Config::from_query("=5&&dense_first&sparsity=");
    assert_eq!(c, Config::default());
    let shown: Vec<String> = e.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        [
            "=5 has no parameter name; ignored",
            "dense_first= has no value; using the default auto",
            "sparsity= has no value; using the default 0.9",
        ]
    );
}

#[test]
fn prune_start_after_prune_end_resets_both() {
    let (c, e) = Config::from_query("prune_start=0.7&prune_end=0.5&sparsity=0.8");
    assert_eq!((c.prune_start, c.prune_end, c.sparsity), (0.1, 0.6, 0.8));
    assert_eq!(
        e[0].to_string(),
        "prune_start=0.7 must be less than prune_end=0.5; \
         using the defaults prune_start=0.1, prune_end=0.6"
    );
    // Against the other's default too.
    let (c, e) = Config::from_query("prune_start=0.6");
    assert_eq!(c.prune_start, 0.1);
    assert_eq!(e.len(), 1);
    assert!(c.validate().is_empty());
}

#[test]
fn validate_finds_values_built_in_code() {
    let c = Config {
        sparsity: 2.0,
        lr: f64::NAN,
        model: ModelSpec::Mlp { hidden: vec![] },
        prune_start: 0.9,
        batch: 0,
        ..Config::default()
    };
    let keys: Vec<String> = c.validate().into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["model", "sparsity", "lr", "batch", "prune_start"]);
    let e = c.validate();
    assert_eq!(e[2].message, "is not a number");
    assert_eq!(e[4].message, "must be less than prune_end=0.6");
    let c = Config {
        dense_first: Switch::On,
        dense_last: true,
        method: Method::Dense,
        ..Config::default()
    };
    assert!(c.validate().is_empty(), "dense with dense_first is fine");
}

#[test]
fn strict_parsing_for_the_cli() {
    let c = Config::parse_strict("method=set&sparsity=0.95").unwrap();
    assert_eq!((c.method, c.sparsity), (Method::Set, 0.95));
    let e = Config::parse_strict("method=set&sparsity=1.5&bar").unwrap_err();
    assert_eq!(e.len(), 2);
    assert!(Config::parse_strict("dt=1&dt=2").is_err());
    assert_eq!(Config::parse_strict(""), Ok(Config::default()));
}

#[test]
fn queries_follow_the_table_order() {
    let c = Config {
        seed: 42,
        sparsity: 0.98,
        method: Method::Static,
        model: ModelSpec::default_cnn(),
        ..Config::default()
    };
    assert_eq!(
        c.to_query(),
        "model=cnn:16,32,128&method=static&sparsity=0.98&seed=42"
    );
    let full = c.to_query_full();
    let keys: Vec<&str> = full
        .split('&')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
    assert_eq!(keys, names);
    assert_eq!(Config::from_query(&full), (c, vec![]));
    assert!(Config::default().to_query_full().contains("&wd=0.0005&"));
}

#[test]
fn get_and_set_by_name_go_through_the_table() {
    let mut c = Config::default();
    assert_eq!(c.get("alpha").as_deref(), Some("0.3"));
    assert_eq!(c.get("nope"), None);
    c.set("alpha", "0.5").unwrap();
    assert_eq!(c.alpha, 0.5);
    assert_eq!(c.set("alpha", "0").unwrap_err(), "is outside (0, 1]");
    assert_eq!(c.alpha, 0.5);
    assert_eq!(c.set("nope", "1").unwrap_err(), "unknown parameter 'nope'");
}

#[test]
fn steps_from_fractions() {
    let c = Config::default();
    assert_eq!(
        (c.t_end_step(), c.prune_start_step(), c.prune_end_step()),
        (2250, 300, 1800)
    );
    let c = Config {
        tend: 0.29,
        prune_start: 0.001,
        prune_end: 1.0,
        steps: 100,
        ..Config::default()
    };
    // 0.29 * 100 is 28.999999999999996 in f64.
    assert_eq!(
        (c.t_end_step(), c.prune_start_step(), c.prune_end_step()),
        (29, 0, 100)
    );
    let c = Config {
        tend: 0.755,
        steps: 1000,
        ..Config::default()
    };
    assert_eq!(c.t_end_step(), 755);
    let c = Config {
        tend: 0.7555,
        steps: 1000,
        ..Config::default()
    };
    assert_eq!(c.t_end_step(), 755);
}

#[test]
fn groups_are_contiguous_and_in_page_order() {
    let mut groups: Vec<Group> = PARAMS.iter().map(|p| p.group).collect();
    groups.dedup();
    assert_eq!(groups, Group::ALL);
}

#[test]
fn auto_switches_follow_the_model_and_the_data_set() {
    let c = |q: &str| Config::parse_strict(q).unwrap();
    // The first layer: dense for a CNN, sparse for an MLP, unless set.
    assert!(c("model=cnn:16,32,128").first_layer_dense());
    assert!(!c("model=mlp:300,100").first_layer_dense());
    assert!(!c("model=cnn:16,32,128&dense_first=0").first_layer_dense());
    assert!(c("dense_first=true").first_layer_dense());
    // Augmentation: on CIFAR-10 only, unless set.
    assert!(c("data=cifar10").augments());
    assert!(!c("data=mnist").augments() && !c("data=fashion").augments());
    assert!(!c("data=cifar10&augment=false").augments());
    assert!(c("augment=1").augments());
    // auto is the default: a link without them writes neither.
    assert_eq!(
        c("data=cifar10&model=cnn:16,32,128").to_query(),
        "data=cifar10&model=cnn:16,32,128"
    );
}
