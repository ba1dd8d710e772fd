//! The node as a chain adapter's sink: the one way an adapter's items, cursors and status
//! reach the node. Items go through the scheduler like anyone's; cursors ride in the same
//! atomic batch as the item they complete.

use aolink_primitives::adapter::{ChainSink, ChainStatus, CursorWrite, SinkError};

use crate::Node;
use crate::ans104::{DataItem, Tag};
use crate::store::Batch;

fn sink_error(e: impl std::fmt::Display) -> SinkError {
    SinkError(e.to_string())
}

impl ChainSink for Node {
    fn cursor(&self, key: &str) -> Result<Option<Vec<u8>>, SinkError> {
        self.store().meta(key).map_err(sink_error)
    }

    async fn submit(&self, item: DataItem, cursors: Vec<CursorWrite>) -> Result<(), SinkError> {
        self.submit_own_with_meta(item, cursors)
            .await
            .map(|_| ())
            .map_err(sink_error)
    }

    async fn submit_all(&self, items: Vec<(DataItem, Vec<CursorWrite>)>) -> Result<(), SinkError> {
        self.submit_own_all(items)
            .await
            .map(|_| ())
            .map_err(sink_error)
    }

    fn put_cursors(&self, cursors: Vec<CursorWrite>) -> Result<(), SinkError> {
        let mut batch = Batch::new();
        batch.put_metas(&cursors);
        self.store().apply(&batch).map_err(sink_error)
    }

    async fn spawn(
        &self,
        tags: Vec<Tag>,
        data: Vec<u8>,
        id_key: String,
    ) -> Result<[u8; 32], SinkError> {
        let item =
            DataItem::sign(self.key().signer(), None, None, tags, data).map_err(sink_error)?;
        let id = item.id();
        self.submit_with_meta(item.to_bytes(), vec![(id_key, id.to_vec())])
            .await
            .map_err(sink_error)?;
        Ok(id)
    }

    fn report_status(&self, component: &str, status: &ChainStatus) {
        Node::report_status(self, component, status.clone());
    }
}
