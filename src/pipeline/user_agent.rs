//! The per-backend user-agent parser that staging and `staging.enrich_event_data` use.

use onevault_tracking_core::useragent::{UserAgentInfo, UserAgentParser};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Distinct user agents remembered per backend; real traffic has few, so this bounds memory
/// without a real LRU.
const USER_AGENT_CACHE_SIZE: usize = 4096;

thread_local! {
    static USER_AGENTS: RefCell<HashMap<String, UserAgentInfo>> = RefCell::new(HashMap::new());
}

/// Parses a user agent; the parser is built once per backend (about 100 ms of regex
/// compilation) and answers for a user agent seen before come from the cache.
pub fn parse_user_agent(user_agent: Option<&str>) -> UserAgentInfo {
    static PARSER: OnceLock<UserAgentParser> = OnceLock::new();
    let key = user_agent.unwrap_or("");
    if let Some(info) = USER_AGENTS.with(|cache| cache.borrow().get(key).cloned()) {
        return info;
    }
    let info = PARSER.get_or_init(UserAgentParser::new).parse(user_agent);
    USER_AGENTS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= USER_AGENT_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(key.to_owned(), info.clone());
    });
    info
}
