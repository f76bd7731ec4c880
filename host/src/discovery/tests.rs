use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{decide, kind_of, Action, Debouncer, FileKind};

#[test]
fn file_kinds_by_name() {
    assert_eq!(kind_of(Path::new("/p/libhello.so")), FileKind::Library);
    assert_eq!(kind_of(Path::new("/p/libhello.dylib")), FileKind::Library);
    assert_eq!(kind_of(Path::new("/p/hello.DLL")), FileKind::Library);
    assert_eq!(
        kind_of(Path::new("/p/hello-0.1.0.sbpkg")),
        FileKind::Package
    );
    assert_eq!(kind_of(Path::new("/p/notes.txt")), FileKind::Other);
    assert_eq!(kind_of(Path::new("/p/README")), FileKind::Other);
    for ignored in [
        ".libhello.so",
        "libhello.so~",
        ".libhello.so.swp",
        "libhello.so.part",
        "hello.sbpkg.crdownload",
        "hello-0.1.0.sbpkg.minisig",
        "hello-0.1.0.sbpkg.cert",
        "#libhello.so#",
        "libhello.so.tmp",
    ] {
        assert_eq!(
            kind_of(&Path::new("/p").join(ignored)),
            FileKind::Ignored,
            "{ignored}"
        );
    }
}

#[test]
fn a_burst_of_events_is_one_action_once_quiet() {
    let t0 = Instant::now();
    let settle = Duration::from_millis(300);
    let mut d = Debouncer::new(settle);
    let lib = PathBuf::from("/p/libhello.so");
    // A copy in progress: an event every 100 ms for a second.
    for i in 0..10 {
        d.event(lib.clone(), t0 + Duration::from_millis(100 * i));
        assert!(d.due(t0 + Duration::from_millis(100 * i + 50)).is_empty());
    }
    let last = t0 + Duration::from_millis(900);
    assert_eq!(d.next_due(), Some(last + settle));
    assert!(d.due(last + settle - Duration::from_millis(1)).is_empty());
    assert_eq!(d.due(last + settle), vec![lib]);
    assert!(d.due(last + settle * 10).is_empty());
    assert_eq!(d.next_due(), None);
}

#[test]
fn files_settle_apart_and_in_path_order() {
    let t0 = Instant::now();
    let settle = Duration::from_millis(100);
    let mut d = Debouncer::new(settle);
    let (a, b, c) = (
        PathBuf::from("/p/liba.so"),
        PathBuf::from("/p/libb.so"),
        PathBuf::from("/p/c.sbpkg"),
    );
    d.event(b.clone(), t0);
    d.event(a.clone(), t0);
    d.event(c.clone(), t0 + Duration::from_millis(80));
    // Temporary files never become actions.
    d.event(PathBuf::from("/p/.liba.so.swp"), t0);
    assert_eq!(d.due(t0 + settle), vec![a, b]);
    assert_eq!(d.due(t0 + Duration::from_millis(180)), vec![c]);
}

#[test]
fn decisions() {
    assert_eq!(
        decide(FileKind::Library, true, None),
        Action::Load(FileKind::Library)
    );
    assert_eq!(
        decide(FileKind::Package, true, Some("hello".into())),
        Action::Reload("hello".into())
    );
    assert_eq!(
        decide(FileKind::Library, false, Some("hello".into())),
        Action::Remove("hello".into())
    );
    assert_eq!(decide(FileKind::Library, false, None), Action::Nothing);
    assert_eq!(decide(FileKind::Ignored, true, None), Action::Nothing);
    // A new file that is no plugin is looked at, to be skipped with its code.
    assert_eq!(
        decide(FileKind::Other, true, None),
        Action::Load(FileKind::Other)
    );
}
