use http::{HeaderMap, HeaderValue, header};

use super::same_origin;

fn with(name: header::HeaderName, value: &'static str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(name.clone(), HeaderValue::from_static(value));
    map
}

#[test]
fn only_same_origin_locations_are_invalidated() {
    let origin = "http://example.com";
    assert_eq!(
        same_origin(
            origin,
            &with(header::LOCATION, "/items/7"),
            header::LOCATION
        ),
        Some("http://example.com/items/7".to_owned())
    );
    assert_eq!(
        same_origin(
            origin,
            &with(header::CONTENT_LOCATION, "http://EXAMPLE.com/items/7?x=1"),
            header::CONTENT_LOCATION
        ),
        Some("http://example.com/items/7?x=1".to_owned())
    );
    assert_eq!(
        same_origin(
            origin,
            &with(header::LOCATION, "http://evil.test/items/7"),
            header::LOCATION
        ),
        None
    );
    assert_eq!(
        same_origin(
            origin,
            &with(header::LOCATION, "http://example.com.evil.test/"),
            header::LOCATION
        ),
        None
    );
}
