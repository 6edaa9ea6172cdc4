//! Parsing a 100-advertiser Advertiser Lookup page, against a bare quick-xml event loop over
//! the same bytes (the least any XML reading can cost); and a page of 2 MB of bare `&`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::fmt::Write;
use std::hint::black_box;

fn page(advertisers: usize) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cj-api>\n  <advertisers total-matched=\"1523\" records-returned=\"100\" page-number=\"1\">\n",
    );
    for i in 0..advertisers {
        write!(
            xml,
            r#"    <advertiser>
      <advertiser-id>{id}</advertiser-id>
      <account-status>Active</account-status>
      <seven-day-epc>{epc}.17</seven-day-epc>
      <three-month-epc>{epc}.02</three-month-epc>
      <language>en</language>
      <advertiser-name>Advertiser {i} &amp; Sons</advertiser-name>
      <program-url>https://www.advertiser-{i}.example</program-url>
      <relationship-status>joined</relationship-status>
      <mobile-supported>true</mobile-supported>
      <mobile-tracking-certified>true</mobile-tracking-certified>
      <cookieless-tracking-enabled>false</cookieless-tracking-enabled>
      <network-rank>{rank}</network-rank>
      <primary-category>
        <parent>Home &amp; Garden</parent>
        <child>Utilities</child>
      </primary-category>
      <performance-incentives>false</performance-incentives>
      <actions>
        <action>
          <name>Online Sale</name>
          <type>advanced sale</type>
          <id>{action}</id>
          <commission>
            <itemlist name="Item List 1" id="2179">USD 1.00</itemlist>
            <itemlist name="Item List 2" id="2180">12.50%</itemlist>
            <default type="item-level">8.00%</default>
          </commission>
        </action>
        <action>
          <name>Lead</name>
          <type>lead</type>
          <id>{lead}</id>
          <commission>
            <default>GBP 50.00</default>
          </commission>
        </action>
      </actions>
      <link-types>
        <link-type>Text Link</link-type>
        <link-type>Banner</link-type>
        <link-type>Advanced Link</link-type>
      </link-types>
    </advertiser>
"#,
            id = 1_000_000 + i,
            epc = i % 40,
            rank = i % 5 + 1,
            action = 300 + i,
            lead = 9000 + i,
        )
        .expect("writes");
    }
    xml.push_str("  </advertisers>\n</cj-api>\n");
    xml
}

fn bench(c: &mut Criterion) {
    let xml = page(100);
    let parsed = cj_advertiser_lookup::parse_page(&xml).expect("parses");
    assert_eq!(parsed.advertisers.len(), 100);
    let mut group = c.benchmark_group("advertiser_lookup_page_100");
    group.throughput(Throughput::Bytes(xml.len() as u64));
    group.bench_function("bare_quick_xml_events", |b| {
        b.iter(|| {
            let mut reader = quick_xml::Reader::from_str(black_box(&xml));
            let mut events = 0usize;
            loop {
                match reader.read_event() {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => events += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            black_box(events)
        })
    });
    group.bench_function("parse_page", |b| {
        b.iter(|| black_box(cj_advertiser_lookup::parse_page(black_box(&xml)).expect("parses")))
    });
    group.finish();

    // 2 MB of bare `&` (each repaired to `&amp;`): quadratic before, linear now.
    let storm = format!(
        "<cj-api><advertisers><advertiser><advertiser-id>1</advertiser-id>\
         <advertiser-name>{}</advertiser-name></advertiser></advertisers></cj-api>",
        "&".repeat(2 << 20)
    );
    let mut group = c.benchmark_group("advertiser_lookup_ampersand_storm_2mb");
    group.throughput(Throughput::Bytes(storm.len() as u64));
    group.sample_size(10);
    group.bench_function("parse_page", |b| {
        b.iter(|| black_box(cj_advertiser_lookup::parse_page(black_box(&storm)).expect("parses")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
