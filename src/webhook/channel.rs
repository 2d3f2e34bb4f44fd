//! The webhook sources Talon ingests from, and their stable names.
//!
//! Guarantees: a channel's name is what the inbox stores, what `/webhook/<channel>` routes on,
//! what `channels.status` and the metrics report; names never change once stored.

/// A source of webhook deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Human's generic `POST /webhook` (`X-Signature` hex HMAC-SHA256).
    Generic,
    /// Comis's `POST /hooks/webhook` (configurable HMAC, or the Standard Webhooks preset).
    Hooks,
    /// Telegram Bot API updates.
    Telegram,
    /// Slack Events API (and form-encoded slash commands / interactivity).
    Slack,
    /// Discord interactions.
    Discord,
    /// WhatsApp Cloud API (Meta Graph webhooks).
    WhatsApp,
    /// LINE Messaging API.
    Line,
    /// Lark / Feishu event subscriptions.
    Lark,
}

impl Channel {
    /// Every channel, in the order reports list them.
    pub const ALL: [Self; 8] = [
        Self::Generic,
        Self::Hooks,
        Self::Telegram,
        Self::Slack,
        Self::Discord,
        Self::WhatsApp,
        Self::Line,
        Self::Lark,
    ];

    /// The native messaging channels (those with a `channels.<name>` config block).
    pub const NATIVE: [Self; 6] = [Self::Telegram, Self::Slack, Self::Discord, Self::WhatsApp, Self::Line, Self::Lark];

    /// The stable name (inbox column, route segment, metrics label).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Generic => "webhook",
            Self::Hooks => "hooks",
            Self::Telegram => "telegram",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::WhatsApp => "whatsapp",
            Self::Line => "line",
            Self::Lark => "lark",
        }
    }

    /// The channel with this stable name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Index for per-channel tables.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Channel;

    #[test]
    fn names_round_trip_and_index_in_order() {
        for (i, c) in Channel::ALL.into_iter().enumerate() {
            assert_eq!(Channel::from_name(c.name()), Some(c));
            assert_eq!(c.index(), i);
        }
        assert_eq!(Channel::from_name("nope"), None);
    }
}
